"""Finding nvcc and the flags for the CUDA kernels."""
import os
import re
import shutil
import subprocess
from dataclasses import dataclass

# How the kernels reach the CUDA runtime; see docs/cuda.md.
RUNTIME_NOTE = "TensorFlow's CUDA runtime (symbols exported by libtensorflow_framework.so.2)"

LOWEST_ARCH, HIGHEST_ARCH = 70, 90


@dataclass
class Toolkit:
    nvcc: str
    version: str
    supported: list  # compute capabilities nvcc can target, e.g. [75, 80, ...]


def find_toolkit():
    """The nvcc from CUDA_HOME, CUDA_PATH or PATH, or None."""
    candidates = [os.path.join(os.environ[v], "bin", "nvcc")
                  for v in ("CUDA_HOME", "CUDA_PATH") if os.environ.get(v)]
    candidates.append(shutil.which("nvcc"))
    for nvcc in candidates:
        if nvcc and os.path.isfile(nvcc) and os.access(nvcc, os.X_OK):
            version = re.search(r"release (\d+\.\d+)",
                                subprocess.run([nvcc, "--version"], capture_output=True,
                                               text=True).stdout)
            arch_list = subprocess.run([nvcc, "--list-gpu-arch"], capture_output=True,
                                       text=True).stdout
            supported = sorted({int(m) for m in re.findall(r"compute_(\d+)", arch_list)})
            return Toolkit(nvcc, version.group(1) if version else "unknown", supported)
    return None


def target_archs(toolkit):
    """TF_CONV1D_CUDA_ARCHS ("75,80,90") or every supported arch in [70, 90]."""
    requested = os.environ.get("TF_CONV1D_CUDA_ARCHS")
    if requested:
        return [int(a) for a in requested.replace(";", ",").split(",") if a.strip()]
    return [a for a in toolkit.supported if LOWEST_ARCH <= a <= HIGHEST_ARCH]


def gencode_flags(archs):
    flags = []
    for arch in archs:
        flags.append(f"-gencode=arch=compute_{arch},code=sm_{arch}")
    # PTX of the newest target, so later GPUs can JIT-compile the kernels.
    flags.append(f"-gencode=arch=compute_{archs[-1]},code=compute_{archs[-1]}")
    return flags


def compile_command(toolkit, source, obj, archs, root, tf_compile):
    return ([toolkit.nvcc, "-c", "-x", "cu", source, "-o", obj, "-std=c++17", "-O3",
             "-Xcompiler", "-fPIC", "--expt-relaxed-constexpr", "-DGOOGLE_CUDA=1",
             "-DNDEBUG", "-I" + root]
            + [f for f in tf_compile if not f.startswith("--std")]
            + gencode_flags(archs)
            + ["-Xcudafe", "--diag_suppress=esa_on_defaulted_function_ignored",
               "-Wno-deprecated-gpu-targets"])


def link_flags(toolkit):
    # No cudart of our own: the kernels bind to the runtime TF exports.
    return []
