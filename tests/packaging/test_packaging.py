"""The package around the op library: which library it loads, its refusal of
another TensorFlow's library, `python -m tf_conv1d_op`, and a numeric smoke
test of whatever library is loaded (scripts/bazel_test.sh runs this file
against the Bazel-built one)."""
import json
import os
import subprocess
import sys
import types

import numpy as np
import pytest
import tensorflow as tf

import tf_conv1d_op
from tf_conv1d_op import _build_info, _library, _op_names, cli
from tests.support import library_copies

OPS = _op_names.ALL
DTYPES = ["bfloat16", "float16", "float32", "float64"]

NUMPY_ACTIVATIONS = {
    "linear": lambda z: z,
    "relu": lambda z: np.maximum(z, 0),
    "tanh": np.tanh,
    "sigmoid": lambda z: 1 / (1 + np.exp(-z)),
}


def numpy_conv1d(x, w, b, stride, dilation):
    """VALID NWC convolution by its definition."""
    kernel_size = w.shape[0]
    extent = (kernel_size - 1) * dilation + 1
    out_steps = (x.shape[1] - extent) // stride + 1
    out = np.zeros((x.shape[0], out_steps, w.shape[2]))
    for t in range(out_steps):
        for k in range(kernel_size):
            out[:, t] += x[:, t * stride + k * dilation] @ w[k]
    return out + b


@pytest.mark.parametrize("seed", range(4))
@pytest.mark.parametrize("activation", list(NUMPY_ACTIVATIONS))
def test_loaded_library_matches_numpy(activation, seed):
    rng = np.random.default_rng(seed)
    stride, dilation = int(rng.integers(1, 4)), int(rng.integers(1, 4))
    kernel_size, in_channels, filters = (int(v) for v in rng.integers(1, 6, size=3))
    steps = (kernel_size - 1) * dilation + 1 + int(rng.integers(0, 15))
    x = rng.standard_normal((int(rng.integers(1, 4)), steps, in_channels))
    w = rng.standard_normal((kernel_size, in_channels, filters))
    b = rng.standard_normal(filters)
    y = tf_conv1d_op.fused_conv1d(x, w, b, stride=stride, dilations=dilation,
                                  activation=activation)
    expected = NUMPY_ACTIVATIONS[activation](numpy_conv1d(x, w, b, stride, dilation))
    np.testing.assert_allclose(y.numpy(), expected, rtol=1e-10, atol=1e-10)


def test_loaded_library_gradient_matches_stock_conv1d():
    rng = np.random.default_rng(7)
    x = tf.constant(rng.standard_normal((2, 17, 3)))
    w = tf.constant(rng.standard_normal((3, 3, 5)))
    b = tf.constant(rng.standard_normal(5))
    upstream = rng.standard_normal((2, 8, 5))
    with tf.GradientTape(persistent=True) as tape:
        tape.watch([x, w, b])
        fused = tf_conv1d_op.fused_conv1d(x, w, b, stride=2, activation="tanh")
        stock = tf.tanh(tf.nn.conv1d(x, w, 2, "VALID") + b)
        fused_loss, stock_loss = (tf.reduce_sum(y * upstream) for y in (fused, stock))
    for got, want in zip(tape.gradient(fused_loss, [x, w, b]),
                         tape.gradient(stock_loss, [x, w, b])):
        np.testing.assert_allclose(got.numpy(), want.numpy(), rtol=1e-10, atol=1e-10)


def test_loaded_library_has_every_cpu_level():
    """Whichever build made it (pip, Bazel): all levels, the best one in use."""
    from tests.support.cpu_levels import LEVELS, supported_levels
    levels = _library.cpu_levels()
    x86 = os.uname().machine == "x86_64"
    assert levels["compiled"] == (list(LEVELS) if x86 else ["baseline"])
    assert levels["supported"] == supported_levels()
    if "TF_CONV1D_ISA" not in os.environ:
        assert levels["selected"] == supported_levels()[-1]
    assert levels["bf16_dot"] == (levels["selected"] == "avx512" and cpu_has_flag("avx512_bf16"))
    amx = all(cpu_has_flag(flag) for flag in ("avx512_bf16", "amx_tile", "amx_bf16"))
    assert levels["bf16_amx"] == (levels["selected"] == "avx512" and amx and
                                  os.environ.get("TF_CONV1D_AMX") != "0")


def cpu_has_flag(name):
    """Whether /proc/cpuinfo lists the CPU flag (Linux), read apart from cpuid."""
    try:
        with open("/proc/cpuinfo") as f:
            return any(name in line.split() for line in f if line.startswith("flags"))
    except OSError:
        return False


def test_build_info_matches_this_install():
    info = tf_conv1d_op.build_info()
    assert info == _build_info.read(_library.library_path())
    assert info["tensorflow_version"] == tf.__version__
    assert info["package_version"] == tf_conv1d_op.__version__
    assert info["cuda"] == bool(info["cuda_archs"])


def test_library_override_names_the_library(tmp_path, monkeypatch):
    copy = tmp_path / "copy_of_ops.so"
    copy.write_bytes(open(_library.library_path(), "rb").read())
    monkeypatch.setenv(_library.LIBRARY_OVERRIDE_ENV, str(copy))
    assert _library.library_path() == str(copy)
    assert _library.build_info() == tf_conv1d_op.build_info()


def test_library_override_to_a_missing_file_is_a_clear_error(tmp_path, monkeypatch):
    missing = tmp_path / "nothing_here.so"
    monkeypatch.setenv(_library.LIBRARY_OVERRIDE_ENV, str(missing))
    with pytest.raises(ImportError, match="TF_CONV1D_OP_LIBRARY=.*nothing_here.so is not a file"):
        _library.library_path()


def test_refuses_a_library_built_for_another_tensorflow(tmp_path, monkeypatch):
    copy = tmp_path / "_fused_conv1d_ops.so"
    fake = library_copies.copy_built_for(_library.library_path(), tf.__version__, copy)
    monkeypatch.setenv(_library.LIBRARY_OVERRIDE_ENV, str(copy))
    with pytest.raises(ImportError) as raised:
        _library.load()
    message = str(raised.value)
    assert f"built for TensorFlow {fake}" in message
    assert f"TensorFlow {tf.__version__} is installed" in message
    assert f"tensorflow=={_library.minor_version(fake)}.*" in message
    assert "pip install --no-build-isolation" in message


def test_loads_a_library_built_for_another_patch_release(tmp_path, monkeypatch):
    """TensorFlow keeps its C++ ABI within a minor version (2.21.x)."""
    copy = tmp_path / "_fused_conv1d_ops.so"
    patch = library_copies.copy_built_for(_library.library_path(), tf.__version__, copy,
                                          keep_minor=True)
    assert _library.minor_version(patch) == _library.minor_version(tf.__version__)
    assert patch != tf.__version__
    monkeypatch.setenv(_library.LIBRARY_OVERRIDE_ENV, str(copy))
    assert _library.build_info()["tensorflow_version"] == patch
    # The package's own copy is already loaded; the version check is what is tested.
    _library.check_tensorflow_version(_library.build_info())


def test_info_json_reports_the_build(capsys):
    assert cli.main(["info", "--json"]) == 0
    facts = json.loads(capsys.readouterr().out)
    build = tf_conv1d_op.build_info()
    assert facts["build"] == build
    assert facts["package_version"] == tf_conv1d_op.__version__
    assert facts["tensorflow_installed"] == tf.__version__
    assert facts["library"] == _library.library_path()
    assert facts["fused_activations"] == list(tf_conv1d_op.FUSED_ACTIVATIONS)
    for op in OPS:
        kernels = facts["registered_kernels"][op]
        assert kernels["CPU"] == DTYPES
        # GPU kernels are registered exactly when CUDA kernels were built.
        assert ("GPU" in kernels) == build["cuda"]


def test_info_text_names_versions_kernels_and_activations(capsys):
    assert cli.main(["info"]) == 0
    text = capsys.readouterr().out
    build = tf_conv1d_op.build_info()
    assert f"tf_conv1d_op {tf_conv1d_op.__version__}" in text
    assert f"built for {build['tensorflow_version']}, installed {tf.__version__}" in text
    if build["cuda"]:
        assert all(f"sm_{arch}" in text for arch in build["cuda_archs"])
    else:
        assert "CUDA kernels:       not built" in text
    for op in OPS:
        assert f"{op}: CPU ({', '.join(DTYPES)})" in text
    assert all(name in text for name in tf_conv1d_op.FUSED_ACTIVATIONS)


def test_info_rejects_unknown_arguments(capsys):
    with pytest.raises(SystemExit) as raised:
        cli.main(["info", "--no-such-flag"])
    assert raised.value.code == 2
    assert "--no-such-flag" in capsys.readouterr().err


def test_python_m_tf_conv1d_op_info():
    package_parent = os.path.dirname(os.path.dirname(tf_conv1d_op.__file__))
    env = dict(os.environ, PYTHONPATH=package_parent)
    result = subprocess.run([sys.executable, "-m", "tf_conv1d_op", "info"], env=env,
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert f"tf_conv1d_op {tf_conv1d_op.__version__}" in result.stdout
    assert f"installed {tf.__version__}" in result.stdout
    assert f"{_op_names.BACKPROP_FILTER}: CPU" in result.stdout


@pytest.mark.parametrize("command", sorted(cli.PROGRAMS))
def test_programs_get_the_remaining_arguments(command, monkeypatch):
    calls = []
    fake = types.ModuleType(cli.PROGRAMS[command])
    fake.main = lambda argv: calls.append(argv) or 3
    monkeypatch.setitem(sys.modules, cli.PROGRAMS[command], fake)
    assert cli.main([command, "--quick", "-n", "2", "--help"]) == 3
    assert calls == [["--quick", "-n", "2", "--help"]]


@pytest.mark.parametrize("command", sorted(cli.PROGRAMS))
def test_program_returning_none_exits_zero(command, monkeypatch):
    fake = types.ModuleType(cli.PROGRAMS[command])
    fake.main = lambda argv: None
    monkeypatch.setitem(sys.modules, cli.PROGRAMS[command], fake)
    assert cli.main([command]) == 0


def test_missing_program_is_a_clear_error(monkeypatch, capsys):
    monkeypatch.setitem(sys.modules, cli.PROGRAMS["bench"], None)
    assert cli.main(["bench"]) == 2
    assert "tf_conv1d_op.tools.benchmark is not part of this installation" in capsys.readouterr().err


def test_bench_command_runs_the_benchmark(tmp_path, capsys):
    status = cli.main(["bench", "--quick", "--shapes", "sensor", "--no-memory",
                       "--output-dir", str(tmp_path)])
    assert status == 0
    assert "sensor" in capsys.readouterr().out
    assert (tmp_path / "benchmarks.md").is_file()


def test_info_says_whether_xla_kernels_are_registered(capsys):
    assert cli.main(["info", "--json"]) == 0
    xla = json.loads(capsys.readouterr().out)["xla_kernels"]
    assert xla["built"] == bool(tf_conv1d_op.build_info().get("xla_kernels"))
    if xla["built"]:
        assert "XLA_CPU_JIT" in xla["devices"] and xla["error"] is None
    else:
        assert xla["devices"] == [] and xla["error"]
    assert cli.main(["info"]) == 0
    line = next(l for l in capsys.readouterr().out.splitlines() if "XLA kernels:" in l)
    assert ("registered for XLA_CPU_JIT" in line) == xla["built"]
