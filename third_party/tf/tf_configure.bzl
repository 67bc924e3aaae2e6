"""tf_configure: a repository for the TensorFlow that pip installed.

TensorFlow is not built from source: this rule runs a Python interpreter
(PYTHON_BIN_PATH, else python3 on PATH) that imports TensorFlow, reads
tf.sysconfig and writes the repository (see configure.py next to this file).
Re-run it after installing another TensorFlow: `bazel sync --configure`.
"""

# Inputs of the configuration: a change re-runs it (PATH finds python3 and nvcc).
_ENVIRON = [
    "PATH",
    "PYTHON_BIN_PATH",
    "TF_CONV1D_MARCH",
    "TF_CONV1D_CUDA_ARCHS",
    "TF_CONV1D_XLA",
    "CUDA_HOME",
    "CUDA_PATH",
]

# The pip build's code that configure.py calls; edits to it re-run it too.
_SOURCES = [
    "//third_party/tf:configure.py",
    "//:build_tools/op_library.py",
    "//:build_tools/build_cache.py",
    "//:build_tools/cpu_levels.py",
    "//:build_tools/cuda.py",
    "//:build_tools/xla.py",
    "//:tf_conv1d_op/_build_info.py",
    "//:tf_conv1d_op/_version.py",
]

def _python(ctx):
    python = ctx.os.environ.get("PYTHON_BIN_PATH") or "python3"
    if "/" not in python:
        found = ctx.which(python)
        if not found:
            fail("tf_configure: no %s on PATH; set PYTHON_BIN_PATH to the Python " % python +
                 "that has TensorFlow installed (--repo_env=PYTHON_BIN_PATH=...)")
        python = str(found)
    return python

def _tf_configure_impl(ctx):
    sources = [ctx.path(Label(s)) for s in _SOURCES]
    source_root = ctx.path(Label("//:WORKSPACE")).dirname
    python = _python(ctx)
    result = ctx.execute(
        [python, sources[0], str(source_root), str(ctx.path("."))],
        timeout = 300,
    )
    if result.return_code != 0:
        fail("tf_configure: %s could not configure TensorFlow:\n%s%s" %
             (python, result.stdout, result.stderr))

tf_configure = repository_rule(
    implementation = _tf_configure_impl,
    environ = _ENVIRON,
    configure = True,
    local = True,
)
