"""Finding nvcc and the flags for the CUDA kernels.

Environment:
  TF_CONV1D_CUDA          "0" skips the CUDA kernels even when nvcc is found
  TF_CONV1D_CUDA_ARCHS    compute capabilities to build, e.g. "75,80,90"
                          (default: those the found nvcc supports in [70, 90];
                          PTX of the newest is added for later GPUs)
  TF_CONV1D_CUDA_RUNTIME  "tensorflow" (default): bind to the CUDA runtime
                          TensorFlow exports; "static": embed the toolkit's
                          (docs/cuda.md explains the choice)
"""
import os
import re
import shutil
import subprocess
from dataclasses import dataclass

LOWEST_ARCH, HIGHEST_ARCH = 70, 90
RUNTIMES = {
    "tensorflow": "TensorFlow's CUDA runtime (exported by libtensorflow_framework.so.2)",
    "static": "the toolkit's static CUDA runtime (libcudart_static), private to the library",
}


@dataclass
class Toolkit:
    nvcc: str
    version: str
    supported: list  # compute capabilities nvcc can target, e.g. [75, 80, ...]
    root: str        # the toolkit directory (bin/, include/, lib64/)


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
            return Toolkit(nvcc, version.group(1) if version else "unknown", supported,
                           _toolkit_root(nvcc))
    return None


def _toolkit_root(nvcc):
    """nvcc may be a wrapper script (as /usr/local/bin/nvcc here): ask nvcc
    itself where its toolkit is."""
    result = subprocess.run([nvcc, "-dryrun", "-c", "-x", "cu", os.devnull, "-o", os.devnull],
                            capture_output=True, text=True)
    match = re.search(r"TOP=(\S+)", result.stdout + result.stderr)
    if match and os.path.isdir(match.group(1)):
        return os.path.realpath(match.group(1))
    return os.path.dirname(os.path.dirname(os.path.realpath(nvcc)))


def target_archs(toolkit):
    """TF_CONV1D_CUDA_ARCHS ("75,80,90") or every supported arch in [70, 90]."""
    requested = os.environ.get("TF_CONV1D_CUDA_ARCHS")
    if requested:
        archs = sorted({int(a) for a in requested.replace(";", ",").split(",") if a.strip()})
        unsupported = [a for a in archs if a not in toolkit.supported]
        if unsupported:
            raise RuntimeError(f"TF_CONV1D_CUDA_ARCHS asks for {unsupported}, which nvcc "
                               f"{toolkit.version} cannot target (it supports {toolkit.supported})")
        return archs
    archs = [a for a in toolkit.supported if LOWEST_ARCH <= a <= HIGHEST_ARCH]
    if not archs:
        raise RuntimeError(f"nvcc {toolkit.version} supports none of sm_{LOWEST_ARCH}.."
                           f"sm_{HIGHEST_ARCH}; set TF_CONV1D_CUDA_ARCHS")
    return archs


def gencode_flags(archs):
    flags = [f"-gencode=arch=compute_{a},code=sm_{a}" for a in archs]
    # PTX of the newest target, so later GPUs can JIT-compile the kernels.
    flags.append(f"-gencode=arch=compute_{archs[-1]},code=compute_{archs[-1]}")
    return flags


def runtime_choice():
    choice = os.environ.get("TF_CONV1D_CUDA_RUNTIME", "tensorflow")
    if choice not in RUNTIMES:
        raise RuntimeError(f"TF_CONV1D_CUDA_RUNTIME must be one of {sorted(RUNTIMES)}, "
                           f"got {choice!r}")
    return choice


def compile_command(toolkit, source, obj, archs, root, tf_compile):
    return ([toolkit.nvcc, "-c", "-x", "cu", source, "-o", obj, "-std=c++17", "-O3",
             "-Xcompiler", "-fPIC", "--expt-relaxed-constexpr", "-DGOOGLE_CUDA=1",
             "-DNDEBUG", "-I" + root]
            + [f for f in tf_compile if not f.startswith("--std")]
            + gencode_flags(archs)
            + ["-Xcudafe", "--diag_suppress=esa_on_defaulted_function_ignored",
               "-Wno-deprecated-gpu-targets"])


def link_flags(toolkit, runtime):
    """Flags placed before TF's own link flags."""
    if runtime == "tensorflow":
        return []  # every cuda* reference binds to libtensorflow_framework.so.2
    # Resolved inside the library and kept out of its dynamic symbol table,
    # so TF's exported runtime cannot interpose on these calls.
    return [f"-L{os.path.join(toolkit.root, 'lib64')}", "-l:libcudart_static.a",
            "-Wl,--exclude-libs,libcudart_static.a", "-ldl", "-lrt", "-lpthread"]


def _symbols(args):
    result = subprocess.run(["nm"] + args, capture_output=True, text=True)
    if result.returncode != 0:
        raise RuntimeError(result.stderr)
    return {line.split()[-1] for line in result.stdout.splitlines() if line.strip()}


def unresolved_runtime_symbols(objects, tf_framework_library):
    """CUDA runtime entry points the objects call (kernel launches, the
    registration stubs nvcc generates, ...) that TF's library does not
    export; None when `nm` is unavailable."""
    if shutil.which("nm") is None:
        return None
    needed = {s for s in _symbols(["-u"] + list(objects))
              if s.startswith("cuda") or s.startswith("__cuda")}
    exported = _symbols(["-D", "--defined-only", tf_framework_library])
    return sorted(needed - exported)
