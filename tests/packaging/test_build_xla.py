"""build_tools/xla.py: the XLA kernels are built exactly when TensorFlow
provides what they need, and TF_CONV1D_XLA=0 leaves them out."""
import os

import tensorflow as tf

from build_tools import op_library, xla


def installed_flags():
    return tf.sysconfig.get_compile_flags(), tf.sysconfig.get_link_flags()


def test_installed_tensorflow_provides_the_xla_kernels_needs():
    found = xla.find(*installed_flags(), quiet=True)
    assert found is not None
    include = tf.sysconfig.get_include()
    assert found.compile_flags == tuple("-I" + os.path.join(include, d)
                                        for d in xla.EXTRA_INCLUDE_DIRS)
    assert found.link_flags[-1] == "-l:libtensorflow_cc.so.2"
    assert os.path.isfile(os.path.join(found.link_flags[0][2:], xla.LIBRARY))


def test_a_tensorflow_without_the_headers_gets_no_xla_kernels(tmp_path, capsys):
    compile_flags, link_flags = installed_flags()
    flags = [f if not f.startswith("-I") else "-I" + str(tmp_path) for f in compile_flags]
    assert xla.find(flags, link_flags) is None
    assert "building without XLA kernels: this TensorFlow lacks" in capsys.readouterr().err


def test_switched_off(monkeypatch, capsys):
    monkeypatch.setenv("TF_CONV1D_XLA", "0")
    assert xla.find(*installed_flags()) is None
    assert "TF_CONV1D_XLA=0" in capsys.readouterr().err


def test_xla_sources_are_baseline_objects_with_the_extra_includes(tmp_path):
    compile_flags, link_flags = installed_flags()
    found = xla.find(compile_flags, link_flags, quiet=True)
    jobs = op_library.cpu_jobs(str(tmp_path), compile_flags, "info.cc", found)
    commands = {cmd[2]: cmd for _, cmd in jobs}
    assert xla.SOURCES and all(source in commands for source in xla.SOURCES)
    for source in xla.SOURCES:
        assert all(flag in commands[source] for flag in found.compile_flags)
        assert "-march=x86-64-v3" not in commands[source]
    without = op_library.cpu_jobs(str(tmp_path), compile_flags, "info.cc")
    assert not any(cmd[2] in xla.SOURCES for _, cmd in without)
