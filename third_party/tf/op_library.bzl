"""tf_op_library: the op library as a shared object, optionally with CUDA.

Bazel has no CUDA rules of its own. Under --config=cuda, one genrule per .cu.cc
source runs the nvcc command that configure.py took from build_tools/cuda.py
(the pip build's flags), and the objects are linked into the library.
"""

load("@rules_cc//cc:defs.bzl", "cc_binary")
load("@local_config_tf//:config.bzl", "CPU_COPTS", "NVCC_COMMAND")

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

def tf_op_library(name, srcs, hdrs, cuda_srcs, cuda_setting):
    """A TF op library `name` (.so) from srcs; cuda_srcs too when cuda_setting holds.

    With no cuda_srcs, cuda_setting changes nothing, as in the pip build. The
    embedded build info (@local_config_tf) says which variant was built.
    """
    cpu_variant = {"srcs": ["@local_config_tf//:build_info_cpu.cc"], "copts": []}
    variants = {"//conditions:default": cpu_variant}
    if cuda_srcs:
        variants[cuda_setting] = {
            "srcs": ["@local_config_tf//:build_info_cuda.cc"] +
                    _cuda_objects(name + "_nvcc", cuda_srcs, hdrs),
            "copts": ["-DTF_CONV1D_WITH_CUDA=1"],
        }
    cc_binary(
        name = name,
        srcs = srcs + hdrs + select({k: v["srcs"] for k, v in variants.items()}),
        copts = CPU_COPTS + select({k: v["copts"] for k, v in variants.items()}),
        linkshared = 1,
        visibility = ["//visibility:public"],
        deps = [
            "@local_config_tf//:tf_framework",
            "@local_config_tf//:tf_headers",
        ],
    )
