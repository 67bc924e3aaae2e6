"""`python -m build_tools.wheel` (`pip wheel --no-build-isolation .`, then
auditwheel's repair) makes a manylinux wheel that installs into a fresh
virtual environment and passes the op tests there, run from outside the
source tree; and the installed package refuses another TensorFlow's library.

The fresh environment gets this environment's TensorFlow (and NumPy, pytest)
through a .pth file naming the site-packages that holds it, instead of a
500 MB download; its own site-packages comes first, so the wheel's package is
the one imported. Slow (a full build where the checkout has no cached objects):
deselect with -m "not slow".
"""
import glob
import json
import os
import re
import shutil
import subprocess
import sys
import sysconfig
import zipfile

import pytest
import tensorflow as tf

from tests.support import REPO, library_copies

pytestmark = pytest.mark.slow

ROOT = REPO
# What a checkout may hold besides the sources.
NOT_SOURCES = shutil.ignore_patterns(
    ".git", ".venv*", "build", "dist", "bazel-*", "*.so", "*.o", "__pycache__",
    "*.egg-info", ".pytest_cache")
# Relative to the repository (and to the copy of the tests).
OP_TEST_FILES = [os.path.join("tests", "packaging", "test_packaging.py")] + sorted(
    os.path.relpath(p, ROOT)
    for p in glob.glob(os.path.join(ROOT, "tests", "op", "test_fused_conv1d*.py")))


def clean_env(**extra):
    """This environment minus what would point Python at the source tree."""
    env = {k: v for k, v in os.environ.items()
           if k not in ("PYTHONPATH", "PYTHONHOME", "TF_CONV1D_OP_LIBRARY")}
    env.update(extra)
    return env


def run(cmd, cwd=None, env=None, timeout=600):
    result = subprocess.run([str(c) for c in cmd], cwd=cwd, env=env or clean_env(),
                            capture_output=True, text=True, timeout=timeout)
    assert result.returncode == 0, (
        f"{cmd} failed ({result.returncode}):\n{result.stdout[-4000:]}\n{result.stderr[-4000:]}")
    return result.stdout


@pytest.fixture(scope="module")
def wheel(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("wheel")
    # Built from this checkout, as a user would: its objects are the ones the
    # editable install compiled (build/op_library, reused when their commands
    # match; build_tools/build_cache.py), so this costs a link, not a build.
    # CPU kernels only unless asked otherwise: nvcc would add minutes.
    env = clean_env(TF_CONV1D_CUDA=os.environ.get("TF_CONV1D_CUDA", "0"))
    run([sys.executable, "-m", "build_tools.wheel", tmp / "dist"], cwd=ROOT, env=env,
        timeout=900)
    wheels = list((tmp / "dist").glob("tf_conv1d_op-*.whl"))
    assert len(wheels) == 1, wheels
    return wheels[0]


@pytest.fixture(scope="module")
def venv_python(wheel, tmp_path_factory):
    venv = tmp_path_factory.mktemp("venv")
    run([sys.executable, "-m", "venv", "--without-pip", venv])
    python = venv / "bin" / "python"
    purelib = run([python, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"])
    shared = os.path.dirname(os.path.dirname(tf.__file__))  # site-packages holding TF
    with open(os.path.join(purelib.strip(), "_shared_tensorflow.pth"), "w") as f:
        f.write(shared + "\n")
    run([sys.executable, "-m", "pip", "--python", python, "install", "--no-deps",
         "--disable-pip-version-check", "-q", wheel])
    return python


@pytest.fixture(scope="module")
def outside(tmp_path_factory):
    """A working directory with a copy of the tests (and python/, whose grids
    they share with the GPU harness) and no tf_conv1d_op sources."""
    where = tmp_path_factory.mktemp("outside")
    for tree in ("tests", "python"):
        shutil.copytree(os.path.join(ROOT, tree), where / tree, ignore=NOT_SOURCES)
    return where


def test_wheel_holds_the_package_and_pins_tensorflow(wheel):
    with zipfile.ZipFile(wheel) as z:
        names = z.namelist()
        metadata = z.read(next(n for n in names if n.endswith(".dist-info/METADATA"))).decode()
    assert any(n.startswith("tf_conv1d_op/_fused_conv1d_ops") and n.endswith(".so")
               for n in names)
    for module in ("__init__.py", "__main__.py", "cli.py", "_library.py", "ops.py"):
        assert f"tf_conv1d_op/{module}" in names
    assert not any(n.startswith(("tests/", "build_tools/", "cc/")) for n in names)
    # TensorFlow's libraries come from its own wheel, never grafted into ours.
    assert not any(".libs/" in n for n in names), names
    major, minor = tf.__version__.split(".")[:2]
    assert f"Requires-Dist: tensorflow<{major}.{int(minor) + 1},>={major}.{minor}" in metadata
    # Compiled for this Python, tagged manylinux for this architecture.
    machine = sysconfig.get_platform().split("-")[-1]
    assert re.search(rf"-cp3\d+-cp3\d+-manylinux_\d+_\d+_{machine}\.whl$", wheel.name), wheel.name


def test_auditwheel_finds_only_system_libraries_besides_tensorflow(wheel):
    shown = run([os.path.join(os.path.dirname(sys.executable), "auditwheel"), "show", wheel])
    tag = re.search(r"constrains the platform tag to \"(manylinux_\d+_\d+_\w+)\"", shown)
    assert tag and tag.group(1) in wheel.name, shown


def test_installed_package_is_the_wheels(venv_python, outside):
    out = run([venv_python, "-c", "import tf_conv1d_op, json; print(json.dumps("
               "[tf_conv1d_op.__file__, tf_conv1d_op.build_info()]))"], cwd=outside)
    path, info = json.loads(out.splitlines()[-1])
    assert path.startswith(str(venv_python.parent.parent))
    assert info["tensorflow_version"] == tf.__version__
    assert info["built_with"] == "build_tools.op_library"


def test_installed_info_command(venv_python, outside):
    out = run([venv_python, "-m", "tf_conv1d_op", "info"], cwd=outside)
    assert f"built for {tf.__version__}, installed {tf.__version__}" in out
    assert "TfConv1dOp>FusedConv1D: CPU (bfloat16, float16, float32, float64)" in out


def test_installed_package_passes_the_op_tests(venv_python, outside):
    # The sample of the op tests the Bazel stage runs too (tests/op/conftest.py).
    out = run([venv_python, "-m", "pytest", "-q", "-p", "no:cacheprovider"] + OP_TEST_FILES,
              cwd=outside, env=clean_env(TF_CONV1D_GRID_SAMPLE="1"), timeout=1800)
    assert " passed" in out


def test_installed_package_refuses_another_tensorflow(venv_python, outside, tmp_path):
    installed = run([venv_python, "-c", "from tf_conv1d_op import _library; "
                     "print(_library.library_path())"], cwd=outside).splitlines()[-1]
    copy = tmp_path / "_fused_conv1d_ops.so"
    fake = library_copies.copy_built_for(installed, tf.__version__, copy)
    result = subprocess.run([str(venv_python), "-c", "import tf_conv1d_op"], cwd=outside,
                            env=clean_env(TF_CONV1D_OP_LIBRARY=str(copy)),
                            capture_output=True, text=True, timeout=120)
    assert result.returncode != 0
    assert (f"ImportError: tf_conv1d_op was built for TensorFlow {fake}, but TensorFlow "
            f"{tf.__version__} is installed") in result.stderr
    assert "pip install --no-build-isolation" in result.stderr
