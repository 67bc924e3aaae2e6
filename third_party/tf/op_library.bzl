"""tf_op_library: the op library as a shared object, optionally with CUDA.

Bazel has no CUDA rules of its own. Under --config=cuda, one genrule per .cu.cc
source runs the nvcc command that configure.py took from build_tools/cuda.py
(the pip build's flags), and the objects are linked into the library.
"""

load("@rules_cc//cc:defs.bzl", "cc_binary")
load("@local_config_tf//:config.bzl", "CPU_COPTS", "CPU_LEVELS", "NVCC_COMMAND", "WITH_XLA")

_NO_NVCC = ("echo 'tf_conv1d_op: --config=cuda needs nvcc (CUDA_HOME, CUDA_PATH or PATH) " +
            "when @local_config_tf is configured; then run bazel sync --configure' >&2; exit 1")

def _cuda_objects(name, srcs, hdrs):
    """Compiles each of srcs with nvcc; returns the object files."""
    objects = []
    for i, src in enumerate(srcs):
        obj = "_%s/%s.pic.o" % (name, src[:-len(".cu.cc")])
        cmd = _NO_NVCC
        if NVCC_COMMAND:
            cmd = NVCC_COMMAND.replace("{src}", "$(location %s)" % src).replace("{out}", "$@")
        native.genrule(
            name = "%s_%d" % (name, i),
            srcs = [src] + hdrs + ["@local_config_tf//:tf_header_files"],
            outs = [obj],
            cmd = cmd,
            message = "nvcc " + src,
        )
        objects.append(obj)
    return objects

def _level_libraries(name, level_srcs, hdrs):
    """One library per instruction-set level (CPU_LEVELS, lowest first), each
    compiling level_srcs with that level's flags and namespace; returned in that
    order, which is the link order build_tools/cpu_levels.py asks for."""
    libraries = []
    for level, copts in CPU_LEVELS:
        native.cc_library(
            name = "%s_%s" % (name, level),
            srcs = level_srcs + hdrs,
            copts = copts,
            deps = ["@local_config_tf//:tf_headers"],
            # Only weakly referenced (cpu_dispatch.cc): keep every object.
            alwayslink = 1,
        )
        libraries.append(":%s_%s" % (name, level))
    return libraries

def _xla_libraries(name, xla_srcs, hdrs):
    """The XLA kernels, compiled for the baseline, when the configured
    TensorFlow provides what they need (WITH_XLA, build_tools/xla.py)."""
    if not WITH_XLA or not xla_srcs:
        return []
    native.cc_library(
        name = name,
        srcs = xla_srcs + hdrs,
        copts = CPU_COPTS,
        deps = ["@local_config_tf//:tf_xla"],
        # Only registrations (REGISTER_XLA_OP): keep every object.
        alwayslink = 1,
    )
    return [":" + name]

def tf_op_library(name, srcs, level_srcs, hdrs, cuda_srcs, cuda_setting, xla_srcs = []):
    """A TF op library `name` (.so) from srcs, with level_srcs compiled once per
    instruction-set level; cuda_srcs too when cuda_setting holds, xla_srcs when
    the configured TensorFlow can build them.

    With no cuda_srcs, cuda_setting changes nothing, as in the pip build. The
    embedded build info (@local_config_tf) says which variant was built.
    """
    variants = {"//conditions:default": ["@local_config_tf//:build_info_cpu.cc"]}
    if cuda_srcs:
        variants[cuda_setting] = (["@local_config_tf//:build_info_cuda.cc"] +
                                  _cuda_objects(name + "_nvcc", cuda_srcs, hdrs))
    cc_binary(
        name = name,
        srcs = srcs + hdrs + select(variants),
        copts = CPU_COPTS,
        linkshared = 1,
        visibility = ["//visibility:public"],
        deps = _level_libraries(name + "_level", level_srcs, hdrs) +
               _xla_libraries(name + "_xla", xla_srcs, hdrs) + [
            "@local_config_tf//:tf_framework",
            "@local_config_tf//:tf_headers",
        ],
    )
