"""Compiles and links the op library against the installed TensorFlow.

Used by setup.py (pip builds) and by the standalone harnesses. Run directly
(`python -m build_tools.op_library OUT.so`) to build without pip.
"""
import concurrent.futures
import glob
import importlib.util
import json
import os
import shlex
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

# The framework-free core, the op definitions and the CPU OpKernels.
CPU_SOURCES = sorted(
    glob.glob(os.path.join(ROOT, "cc", "kernels", "core", "*.cc"))
    + glob.glob(os.path.join(ROOT, "cc", "ops", "*.cc"))
    + glob.glob(os.path.join(ROOT, "cc", "kernels", "*.cc"))
)
CPU_SOURCES = [s for s in CPU_SOURCES if not s.endswith(".cu.cc")]
CUDA_SOURCES = sorted(glob.glob(os.path.join(ROOT, "cc", "**", "*.cu.cc"), recursive=True))

WARNINGS_OFF = ["-Wno-deprecated-declarations", "-Wno-interference-size", "-Wno-unused-result"]


def _load_by_path(name, relpath):
    """A module of the package, without importing the package (and TF)."""
    spec = importlib.util.spec_from_file_location(name, os.path.join(ROOT, relpath))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


build_info = _load_by_path("tf_conv1d_op_build_info", "tf_conv1d_op/_build_info.py")


def tf_flags():
    """(compile flags, link flags, version) of the installed TensorFlow."""
    import tensorflow as tf

    return tf.sysconfig.get_compile_flags(), tf.sysconfig.get_link_flags(), tf.__version__


def tf_framework_library(tf_link):
    """Path of libtensorflow_framework.so.2, from TF's link flags."""
    dirs = [f[2:] for f in tf_link if f.startswith("-L")]
    names = [f[3:] for f in tf_link if f.startswith("-l:")] or ["libtensorflow_framework.so.2"]
    for d in dirs:
        for name in names:
            if os.path.exists(os.path.join(d, name)):
                return os.path.join(d, name)
    return None


def check_runtime_binding(cuda, objects, tf_link):
    """The CUDA objects must find every runtime entry point they call in
    TF's library; otherwise the op would fail to load."""
    framework = tf_framework_library(tf_link)
    missing = cuda.unresolved_runtime_symbols(objects, framework) if framework else None
    if missing is None:
        print("tf_conv1d_op: could not check the CUDA runtime symbols (no nm or no "
              "libtensorflow_framework.so.2)", file=sys.stderr)
    elif missing:
        raise RuntimeError(
            "tf_conv1d_op: the CUDA kernels call runtime functions that TensorFlow's "
            f"libtensorflow_framework.so.2 does not export: {', '.join(missing)}. Build with a "
            "CUDA toolkit closer to TensorFlow's, set TF_CONV1D_CUDA_RUNTIME=static to embed "
            "the toolkit's runtime, or TF_CONV1D_CUDA=0 for a CPU-only library (docs/cuda.md).")


def cpu_compile_flags(tf_compile):
    march = os.environ.get("TF_CONV1D_MARCH", "native")
    return ["-O3", f"-march={march}", "-fPIC", "-I" + ROOT] + tf_compile + WARNINGS_OFF


def run(cmd):
    result = subprocess.run(cmd, capture_output=True, text=True)
    if result.returncode != 0:
        sys.stderr.write(result.stdout + result.stderr)
        raise RuntimeError("command failed: " + " ".join(shlex.quote(c) for c in cmd))


def compile_all(jobs):
    """Runs (command) jobs in parallel, one per core."""
    with concurrent.futures.ThreadPoolExecutor(max_workers=os.cpu_count() or 2) as pool:
        for future in [pool.submit(run, cmd) for cmd in jobs]:
            future.result()


def object_path(temp_dir, source):
    rel = os.path.basename(source) if source.startswith(temp_dir) else os.path.relpath(source, ROOT)
    rel = rel.replace(os.sep, "_")
    return os.path.join(temp_dir, rel + ".o")


def build(output_path, temp_dir, with_cuda=None):
    """Builds the op library at output_path, its build info embedded."""
    from build_tools import cuda

    tf_compile, tf_link, tf_version = tf_flags()
    os.makedirs(temp_dir, exist_ok=True)
    os.makedirs(os.path.dirname(os.path.abspath(output_path)), exist_ok=True)
    toolkit = cuda.find_toolkit() if with_cuda in (None, True) else None
    if with_cuda and toolkit is None:
        raise RuntimeError("CUDA build requested but no nvcc was found")
    if os.environ.get("TF_CONV1D_CUDA", "1") == "0" or not CUDA_SOURCES:
        if toolkit is not None:
            print("tf_conv1d_op: TF_CONV1D_CUDA=0: building the CPU kernels only",
                  file=sys.stderr)
        toolkit = None
    elif toolkit is None:
        print("tf_conv1d_op: no nvcc found (looked in $CUDA_HOME/bin, $CUDA_PATH/bin and "
              "PATH); building a CPU-only library. Install a CUDA toolkit or set CUDA_HOME "
              "to build the GPU kernels.", file=sys.stderr)

    archs = cuda.target_archs(toolkit) if toolkit else []
    runtime = cuda.runtime_choice() if toolkit else None
    if toolkit:
        print(f"tf_conv1d_op: compiling the CUDA kernels with nvcc {toolkit.version} for "
              f"sm_{', sm_'.join(map(str, archs))} (+ PTX); this takes a few minutes",
              file=sys.stderr)
    info = describe_build(tf_version, toolkit, archs, built_with="build_tools.op_library")
    info_source = os.path.join(temp_dir, "build_info.cc")
    with open(info_source, "w") as f:
        f.write(build_info.embed_source(info))

    cflags = cpu_compile_flags(tf_compile)
    jobs, objects = [], []
    for source in CPU_SOURCES + [info_source]:
        obj = object_path(temp_dir, source)
        defines = ["-DTF_CONV1D_WITH_CUDA=1"] if toolkit else []
        jobs.append(["g++", "-c", source, "-o", obj] + cflags + defines)
        objects.append(obj)
    cuda_objects = []
    if toolkit:
        # Longest jobs first: the CUDA sources take most of the build.
        for source in CUDA_SOURCES:
            obj = object_path(temp_dir, source)
            jobs.insert(0, cuda.compile_command(toolkit, source, obj, archs, ROOT, tf_compile))
            cuda_objects.append(obj)
    compile_all(jobs)
    if toolkit and runtime == "tensorflow":
        check_runtime_binding(cuda, cuda_objects, tf_link)
    link = ["g++", "-shared", "-o", output_path] + objects + cuda_objects
    if toolkit:
        link += cuda.link_flags(toolkit, runtime)
    run(link + tf_link)
    return info


def describe_build(tf_version, toolkit, archs, built_with):
    """The build info embedded in the library (pip and Bazel builds alike)."""
    from build_tools import cuda

    return {
        "package_version": package_version(),
        "tensorflow_version": tf_version,
        "cuda": bool(toolkit),
        "cuda_archs": archs,
        "cuda_toolkit": toolkit.version if toolkit else None,
        "cuda_runtime": cuda.RUNTIMES[cuda.runtime_choice()] if toolkit else None,
        "march": os.environ.get("TF_CONV1D_MARCH", "native"),
        "built_with": built_with,
    }


def package_version():
    return _load_by_path("tf_conv1d_op_version", "tf_conv1d_op/_version.py").__version__


if __name__ == "__main__":
    out = sys.argv[1] if len(sys.argv) > 1 else os.path.join(ROOT, "tf_conv1d_op", "_fused_conv1d_ops.so")
    print(json.dumps(build(out, os.path.join(ROOT, "build", "op_library")), indent=2))
