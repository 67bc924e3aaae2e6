"""Builds the framework-free CUDA core into a small shared library for the
harness: with nvcc for a GPU, or with g++ against the host emulation
(emulation/) for the CPU. Neither needs TensorFlow. Results are cached under
build/gpu_check/ by a hash of the sources and flags.
"""
import concurrent.futures
import glob
import hashlib
import os
import shutil
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
from build_tools import cpu_levels, cuda

CORE = os.path.join(ROOT, "cc", "kernels", "core")
GPU_SOURCES = sorted(glob.glob(os.path.join(CORE, "*.cu.cc")))
HOST_SOURCES = [os.path.join(ROOT, source) for source in cpu_levels.HOST_SOURCES]
CAPI = os.path.join(HERE, "conv1d_gpu_capi.cu.cc")
EMULATION_HEADER = os.path.join(HERE, "emulation", "cuda_emulation.h")
EMULATION_RUNTIME = os.path.join(HERE, "emulation", "cuda_emulation.cc")
HEADERS = sorted(glob.glob(os.path.join(CORE, "*.h"))) + [EMULATION_HEADER]


def _cache_dir(kind, flags):
    digest = hashlib.sha256()
    for path in GPU_SOURCES + HOST_SOURCES + HEADERS + [CAPI, EMULATION_RUNTIME]:
        with open(path, "rb") as f:
            digest.update(f.read())
    digest.update(repr(flags).encode())
    return os.path.join(ROOT, "build", "gpu_check", f"{kind}-{digest.hexdigest()[:16]}")


def _run(cmd):
    result = subprocess.run(cmd, capture_output=True, text=True)
    if result.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)}\n{result.stdout}{result.stderr}")


def _build(kind, flags, compile_commands, link_command):
    """compile_commands(obj_dir) -> [(command)], link_command(objects, out)."""
    out_dir = _cache_dir(kind, flags)
    library = os.path.join(out_dir, "libconv1d_gpu_check.so")
    if os.path.exists(library):
        return library
    tmp = out_dir + ".tmp"
    shutil.rmtree(tmp, ignore_errors=True)
    os.makedirs(tmp)
    commands, objects = compile_commands(tmp)
    with concurrent.futures.ThreadPoolExecutor(max_workers=os.cpu_count() or 2) as pool:
        for future in [pool.submit(_run, c) for c in commands]:
            future.result()
    _run(link_command(objects, os.path.join(tmp, "libconv1d_gpu_check.so")))
    shutil.rmtree(out_dir, ignore_errors=True)
    os.replace(tmp, out_dir)
    return library


def _object(obj_dir, source):
    return os.path.join(obj_dir, os.path.relpath(source, ROOT).replace(os.sep, "_") + ".o")


def build_cuda(archs=None):
    """The core built with nvcc for `archs` (e.g. [90]; default: as setup.py)."""
    toolkit = cuda.find_toolkit()
    if toolkit is None:
        raise RuntimeError("no nvcc found (CUDA_HOME, CUDA_PATH or PATH)")
    archs = list(archs) if archs else cuda.target_archs(toolkit)
    flags = ["-std=c++17", "-O3", "-Xcompiler", "-fPIC", "--expt-relaxed-constexpr",
             "-DNDEBUG", "-I" + ROOT, "-Wno-deprecated-gpu-targets"] + cuda.gencode_flags(archs)

    def compile_commands(obj_dir):
        commands, objects = [], []
        for source in GPU_SOURCES + [CAPI] + HOST_SOURCES:
            obj = _object(obj_dir, source)
            lang = ["-x", "cu"] if source.endswith(".cu.cc") else []
            commands.append([toolkit.nvcc, "-c", *lang, source, "-o", obj] + flags)
            objects.append(obj)
        return commands, objects

    # nvcc links its static CUDA runtime: the harness owns no TensorFlow.
    return _build("cuda", [toolkit.nvcc, toolkit.version] + flags, compile_commands,
                  lambda objects, out: [toolkit.nvcc, "-shared", "-o", out] + objects
                  + ["-Wno-deprecated-gpu-targets"])


def cuda_include_dir():
    """The CUDA headers (cuda_fp16.h, ...) the emulation compiles against."""
    candidates = [os.path.join(os.environ[v], "include")
                  for v in ("CUDA_HOME", "CUDA_PATH") if os.environ.get(v)]
    toolkit = cuda.find_toolkit()
    if toolkit is not None:
        candidates.append(os.path.join(toolkit.root, "include"))
    candidates.append("/usr/local/cuda/include")
    for path in candidates:
        if os.path.isfile(os.path.join(path, "cuda_fp16.h")):
            return path
    return None


def build_emulated(force_fma=False):
    """The core built with g++ against the CUDA host emulation.
    force_fma: use the FMA engine for half and bfloat16 too (the path
    pre-sm_80 GPUs take for bfloat16) instead of emulated tensor cores."""
    include = cuda_include_dir()
    if include is None:
        raise RuntimeError("the CUDA headers (cuda_fp16.h) were not found; set CUDA_HOME")
    cxx = os.environ.get("CXX", "g++")
    flags = ["-std=c++17", "-O1", "-g", "-fPIC", "-Wall", "-Wno-unknown-pragmas",
             "-DCONV1D_GPU_EMULATION", "-include", EMULATION_HEADER, "-I" + ROOT,
             "-I" + include] + (["-DCONV1D_GPU_FORCE_FMA"] if force_fma else [])

    def compile_commands(obj_dir):
        commands, objects = [], []
        for source in GPU_SOURCES + [CAPI, EMULATION_RUNTIME] + HOST_SOURCES:
            obj = _object(obj_dir, source)
            commands.append([cxx, "-c", "-x", "c++", source, "-o", obj] + flags)
            objects.append(obj)
        return commands, objects

    kind = "emulated-fma" if force_fma else "emulated"
    return _build(kind, [cxx] + flags, compile_commands,
                  lambda objects, out: [cxx, "-shared", "-o", out] + objects)


if __name__ == "__main__":
    import argparse

    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--emulated", action="store_true")
    parser.add_argument("--archs", default="", help="e.g. 80,90 (CUDA build)")
    args = parser.parse_args()
    if args.emulated:
        print(build_emulated())
    else:
        print(build_cuda([int(a) for a in args.archs.split(",") if a]))
