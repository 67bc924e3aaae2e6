"""Compiles and links the op library against the installed TensorFlow.

Used by setup.py (pip builds) and by the standalone harnesses. Run directly
(`python -m build_tools.op_library OUT.so`) to build without pip;
`python -m build_tools.op_library core` compiles only the core's objects (into
the same cache) and prints their flags and paths, for scripts/sanitize.sh.
"""
import concurrent.futures
import dataclasses
import glob
import importlib.util
import json
import os
import shlex
import subprocess
import shutil
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)
from build_tools import build_cache, cpu_levels, xla  # noqa: E402

# Compiled once, for the baseline: the op definitions, the OpKernels and the
# core's shared sources; the core's per-level sources once per level.
FRAMEWORK_SOURCES = sorted(
    s for s in glob.glob(os.path.join(ROOT, "cc", "ops", "*.cc"))
    + glob.glob(os.path.join(ROOT, "cc", "kernels", "*.cc")) if not s.endswith(".cu.cc"))
SHARED_SOURCES = FRAMEWORK_SOURCES + [os.path.join(ROOT, s) for s in cpu_levels.SHARED_SOURCES]
LEVEL_SOURCES = [os.path.join(ROOT, s) for s in cpu_levels.LEVEL_SOURCES]
CUDA_SOURCES = sorted(glob.glob(os.path.join(ROOT, "cc", "**", "*.cu.cc"), recursive=True))

# Objects, dependency files and the linked library are kept here between builds.
CACHE_DIR = os.environ.get("TF_CONV1D_BUILD_CACHE", os.path.join(ROOT, "build", "op_library"))

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


def cpu_compile_flags(tf_compile, level=None):
    """g++ flags for the baseline sources, or for `level`'s copy of the passes."""
    flags = ["-O3"] + list((level or cpu_levels.levels()[0]).flags)
    flags += [level.define] if level else []
    return flags + ["-fPIC", "-I" + ROOT] + tf_compile + WARNINGS_OFF


def run(cmd):
    result = subprocess.run(cmd, capture_output=True, text=True)
    if result.returncode != 0:
        sys.stderr.write(result.stdout + result.stderr)
        raise RuntimeError("command failed: " + " ".join(shlex.quote(c) for c in cmd))


def run_and_record(output, cmd):
    build_cache.forget(output)
    run(cmd)
    build_cache.record(output, cmd)


def compile_all(jobs):
    """Runs (output, command) jobs that are not up to date, in parallel, one per
    core; returns how many ran."""
    stale = [(out, cmd) for out, cmd in jobs if not build_cache.up_to_date(out, cmd)]
    with concurrent.futures.ThreadPoolExecutor(max_workers=os.cpu_count() or 2) as pool:
        for future in [pool.submit(run_and_record, out, cmd) for out, cmd in stale]:
            future.result()
    return len(stale)


def object_path(cache_dir, source, suffix=""):
    rel = os.path.relpath(source, ROOT) if source.startswith(ROOT) else os.path.basename(source)
    return os.path.join(cache_dir, rel.replace(os.sep, "_") + suffix + ".o")


def find_cuda(with_cuda):
    """The toolkit to build the CUDA kernels with, or None (saying why)."""
    from build_tools import cuda

    toolkit = cuda.find_toolkit() if with_cuda in (None, True) else None
    if with_cuda and toolkit is None:
        raise RuntimeError("CUDA build requested but no nvcc was found")
    if os.environ.get("TF_CONV1D_CUDA", "1") == "0" or not CUDA_SOURCES:
        if toolkit is not None:
            print("tf_conv1d_op: TF_CONV1D_CUDA=0: building the CPU kernels only",
                  file=sys.stderr)
        return None
    if toolkit is None:
        print("tf_conv1d_op: no nvcc found (looked in $CUDA_HOME/bin, $CUDA_PATH/bin and "
              "PATH); building a CPU-only library. Install a CUDA toolkit or set CUDA_HOME "
              "to build the GPU kernels.", file=sys.stderr)
    return toolkit


def cpu_jobs(cache_dir, tf_compile, info_source, xla_build=None, shared_sources=SHARED_SOURCES):
    """(output, command) per CPU object, in link order: the baseline objects
    (shared_sources, the build info unless info_source is None, and the XLA
    kernels when xla_build is given), then each level's copy of the passes,
    lowest level first (cpu_levels.link_order)."""
    by_level = {"baseline": []}
    sources = [(s, ()) for s in shared_sources + ([info_source] if info_source else [])]
    if xla_build:
        sources += [(s, xla_build.compile_flags) for s in xla.SOURCES]
    for source, extra_flags in sources:
        obj = object_path(cache_dir, source)
        by_level["baseline"].append((obj, ["g++", "-c", source, "-o", obj]
                                     + cpu_compile_flags(tf_compile) + list(extra_flags)
                                     + build_cache.dependency_flags(obj)))
    for level in cpu_levels.levels():
        for source in LEVEL_SOURCES:
            obj = object_path(cache_dir, source, "." + level.name)
            by_level.setdefault(level.name, []).append(
                (obj, ["g++", "-c", source, "-o", obj] + cpu_compile_flags(tf_compile, level)
                 + build_cache.dependency_flags(obj)))
    return cpu_levels.link_order(by_level)


@dataclasses.dataclass
class Built:
    info: dict            # the build info embedded in the library
    compiled: int         # objects compiled (the others were up to date)
    linked: bool          # False when the cached library was up to date


def build(output_path, cache_dir=CACHE_DIR, with_cuda=None):
    """Builds the op library at output_path, its build info embedded. Objects and
    the linked library are cached in cache_dir (build_cache.py)."""
    from build_tools import cuda

    tf_compile, tf_link, tf_version = tf_flags()
    os.makedirs(cache_dir, exist_ok=True)
    os.makedirs(os.path.dirname(os.path.abspath(output_path)), exist_ok=True)
    toolkit = find_cuda(with_cuda)
    archs = cuda.target_archs(toolkit) if toolkit else []
    runtime = cuda.runtime_choice() if toolkit else None
    xla_build = xla.find(tf_compile, tf_link)
    info = describe_build(tf_version, toolkit, archs, built_with="build_tools.op_library",
                          with_xla=xla_build is not None)
    info_source = os.path.join(cache_dir, "build_info.cc")
    build_cache.write_if_changed(info_source, build_info.embed_source(info))

    jobs = cpu_jobs(cache_dir, tf_compile, info_source, xla_build)
    cuda_jobs = []
    for source in CUDA_SOURCES if toolkit else []:
        obj = object_path(cache_dir, source)
        cuda_jobs.append((obj, cuda.compile_command(toolkit, source, obj, archs, ROOT, tf_compile)
                          + build_cache.dependency_flags(obj)))
    stale_cuda = [job for job in cuda_jobs if not build_cache.up_to_date(*job)]
    if stale_cuda:
        print(f"tf_conv1d_op: compiling the CUDA kernels with nvcc {toolkit.version} for "
              f"sm_{', sm_'.join(map(str, archs))} (+ PTX); this takes a few minutes",
              file=sys.stderr)
    # Longest jobs first: the CUDA sources take most of a full build.
    compiled = compile_all(cuda_jobs + jobs)
    objects = [obj for obj, _ in jobs]
    cuda_objects = [obj for obj, _ in cuda_jobs]
    if toolkit and runtime == "tensorflow" and stale_cuda:
        check_runtime_binding(cuda, cuda_objects, tf_link)

    library = os.path.join(cache_dir, "_fused_conv1d_ops.so")
    link = ["g++", "-shared", "-o", library] + objects + cuda_objects
    if toolkit:
        link += cuda.link_flags(toolkit, runtime)
    link += tf_link + list(xla_build.link_flags if xla_build else [])
    linked = not build_cache.up_to_date(library, link, objects + cuda_objects)
    if linked:
        run_and_record(library, link)
    print(f"tf_conv1d_op: {compiled} of {len(jobs) + len(cuda_jobs)} objects compiled, "
          f"library {'linked' if linked else 'up to date'} ({cache_dir})", file=sys.stderr)
    if os.path.abspath(output_path) != library:
        shutil.copy2(library, output_path)
    return Built(info, compiled, linked)


def build_core(cache_dir=CACHE_DIR):
    """Compiles what is stale of the framework-free core's objects, exactly as
    the library's build does and into its cache, so that the programs that test
    the core without TensorFlow's runtime (scripts/sanitize.sh's plain config)
    link the code the library runs and a checkout compiles it once. Returns
    (the flags its baseline objects were compiled with, the objects in link
    order)."""
    tf_compile, _, _ = tf_flags()
    os.makedirs(cache_dir, exist_ok=True)
    core_shared = [os.path.join(ROOT, s) for s in cpu_levels.SHARED_SOURCES]
    jobs = cpu_jobs(cache_dir, tf_compile, info_source=None, shared_sources=core_shared)
    compile_all(jobs)
    return cpu_compile_flags(tf_compile), [obj for obj, _ in jobs]


def describe_build(tf_version, toolkit, archs, built_with, with_xla=False):
    """The build info embedded in the library (pip and Bazel builds alike)."""
    from build_tools import cuda

    return {
        "package_version": package_version(),
        "tensorflow_version": tf_version,
        "cuda": bool(toolkit),
        "cuda_archs": archs,
        "cuda_toolkit": toolkit.version if toolkit else None,
        "cuda_runtime": cuda.RUNTIMES[cuda.runtime_choice()] if toolkit else None,
        "cpu_levels": {level.name: " ".join(level.flags) for level in cpu_levels.levels()},
        "built_with": built_with,
        "xla_kernels": with_xla,
    }


def package_version():
    return _load_by_path("tf_conv1d_op_version", "tf_conv1d_op/_version.py").__version__


if __name__ == "__main__":
    if sys.argv[1:] == ["core"]:
        # For shell scripts: the compile flags on one line, then one object per line.
        flags, objects = build_core()
        print(shlex.join(flags))
        print("\n".join(objects))
        sys.exit(0)
    out = sys.argv[1] if len(sys.argv) > 1 else os.path.join(ROOT, "tf_conv1d_op", "_fused_conv1d_ops.so")
    print(json.dumps(dataclasses.asdict(build(out)), indent=2))
