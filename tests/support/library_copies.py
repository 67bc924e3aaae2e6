"""Copies of the built op library with their embedded build info edited."""


def other_version(version):
    """A different version string of the same length (e.g. 2.21.0 -> 9.99.9)."""
    for digit in "98":
        other = "".join(digit if c.isdigit() else c for c in version)
        if other != version:
            return other
    raise AssertionError(f"cannot make another version from {version!r}")


def other_patch_release(version):
    """2.21.0 -> 2.21.9: the same minor version, another patch release."""
    major, minor, patch = version.split(".", 2)
    return f"{major}.{minor}." + "".join("9" if patch != "9" * len(patch) else "8"
                                         for _ in patch)


def copy_built_for(library, tf_version, destination, keep_minor=False):
    """Copies library to destination, claiming to be built for another TF
    (another minor version, or with keep_minor another patch release).

    Rewrites the version in the embedded JSON in place (same length, so the
    ELF file stays intact). Returns the version it now claims.
    """
    with open(library, "rb") as f:
        data = f.read()
    field = b'"tensorflow_version": "%s"' % tf_version.encode()
    assert data.count(field) == 1, f"{library} does not embed {field!r} exactly once"
    fake = other_patch_release(tf_version) if keep_minor else other_version(tf_version)
    with open(destination, "wb") as f:
        f.write(data.replace(field, b'"tensorflow_version": "%s"' % fake.encode()))
    return fake
