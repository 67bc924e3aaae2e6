"""Skips compiling and linking what is already built: an output is up to date
when the command that made it is the same and none of its inputs (the source,
every header the compiler's dependency file names, or the objects a link
reads) is newer than it. So a second build with unchanged sources and flags
does nothing, and an edited file rebuilds only the objects that include it.
A command's record is dropped before it runs, so one killed half way (which
can leave a truncated output newer than its inputs) runs again next time.
"""
import json
import os


def _stamp_path(output):
    return output + ".cmd"


def _dep_path(output):
    return output + ".d"


def dependency_flags(output):
    """Flags that make g++ or nvcc write the dependency file of `output`."""
    return ["-MD", "-MF", _dep_path(output)]


def _dependencies(output):
    """Files named by the compiler's make-style dependency file; None if absent."""
    try:
        with open(_dep_path(output)) as f:
            text = f.read()
    except OSError:
        return None
    text = text.replace("\\\n", " ")
    _, _, prerequisites = text.partition(":")
    # Make escapes spaces in names as "\ "; no source here has one.
    return prerequisites.split()


def up_to_date(output, command, inputs=()):
    """Whether `output` was made by `command` from inputs no newer than it."""
    try:
        if os.path.getsize(output) == 0:  # a write cut short
            return False
        built = os.path.getmtime(output)
        with open(_stamp_path(output)) as f:
            if json.load(f) != command:
                return False
    except (OSError, ValueError):
        return False
    inputs = list(inputs)
    if "-MD" in command:
        deps = _dependencies(output)
        if deps is None:
            return False
        inputs += deps
    try:
        return all(os.path.getmtime(path) <= built for path in inputs)
    except OSError:  # an input is gone
        return False


def forget(output):
    """Call before running the command that makes `output`."""
    try:
        os.remove(_stamp_path(output))
    except FileNotFoundError:
        pass


def record(output, command):
    """Call after `command` made `output`."""
    with open(_stamp_path(output), "w") as f:
        json.dump(command, f)


def write_if_changed(path, text):
    """Writes a generated source only when its text changes, so that its
    object stays up to date."""
    try:
        with open(path) as f:
            if f.read() == text:
                return
    except OSError:
        pass
    with open(path, "w") as f:
        f.write(text)
