"""The CPU core's sources and the instruction-set levels its passes are
compiled for (cc/kernels/core/cpu_isa.h): the one list that every build reads.

setup.py (through op_library.py), Bazel (through third_party/tf/configure.py)
and python/gpu_check/build.py import it; the scripts that compile the core by
hand (scripts/sanitize.sh and scripts/fuzz_core.sh through
scripts/core_objects.sh, python/benchmarks/core_ab.sh) ask for it:

    python -m build_tools.cpu_levels sources        # shared sources, one per line
    python -m build_tools.cpu_levels level-sources  # sources compiled once per level
    python -m build_tools.cpu_levels levels [MACHINE]  # NAME NAMESPACE FLAGS... per line
                                                       # (MACHINE: uname -m of the target)

Environment: TF_CONV1D_MARCH replaces the baseline's -march (an expert
override: the baseline is also what TensorFlow's headers are compiled for, so
a value past x86-64-v4, such as native on a CPU with AVX512-FP16, can break the
build with g++ 12; see docs/packaging.md).
"""
import os
import platform
import sys
from dataclasses import dataclass

CORE = "cc/kernels/core"

# What the CPU and the CUDA core both use: the geometry and the activations'
# names (python/gpu_check/build.py compiles these with the CUDA core).
HOST_SOURCES = [f"{CORE}/{name}" for name in ("activations.cc", "conv1d_geometry.cc")]

# Compiled once, for the baseline: those, the level choice and the dispatch to
# the chosen level's passes.
SHARED_SOURCES = HOST_SOURCES + [f"{CORE}/{name}" for name in (
    "cpu_dispatch.cc", "cpu_isa.cc", "grouped_cpu.cc", "output_pages.cc")]

# Compiled once per level, each copy in its own namespace (cpu_level.h).
LEVEL_SOURCES = [f"{CORE}/{name}" for name in (
    "conv1d_cpu.cc", "depthwise_cpu.cc", "gemm_amx.cc", "gemm_kernel.cc")]

X86_64 = ("x86_64", "AMD64", "amd64")


@dataclass(frozen=True)
class Level:
    name: str        # what TF_CONV1D_ISA takes
    flags: tuple     # compiler flags of this level's copy

    @property
    def namespace(self):
        return "isa_" + self.name

    @property
    def define(self):
        return "-DTF_CONV1D_LEVEL_NAMESPACE=" + self.namespace


def baseline_flags(machine=None):
    march = os.environ.get("TF_CONV1D_MARCH")
    if march:
        return (f"-march={march}",)
    # TensorFlow's x86-64 wheels need AVX, so SSE4.2 (x86-64-v2) costs no user
    # anything; elsewhere the compiler's default target.
    return ("-march=x86-64-v2",) if (machine or platform.machine()) in X86_64 else ()


# Every level's copy (and, with the baseline's flags, the shared sources and
# the OpKernels) may evaluate both sides of a floating-point select (the
# derivative's `z > 0 ? 1 : 0` times dy, relu6's, leaky relu's): the passes
# run with exceptions masked, as TensorFlow does, so no operation can trap,
# and the values are the same. Without it GCC keeps such a loop scalar with a
# branch wherever the vectors lack masks (AVX2, SSE): the float sensor
# layer's training step took 4.7 times as long at the avx2 level as at avx512.
LEVEL_FLAGS = ("-fno-trapping-math",)


def levels(machine=None):
    """The levels to build, lowest first: the order they must be linked in
    (see link_order)."""
    machine = machine or platform.machine()
    found = [Level("baseline", baseline_flags(machine) + LEVEL_FLAGS)]
    if machine in X86_64:
        found += [Level("avx2", ("-march=x86-64-v3",) + LEVEL_FLAGS),
                  Level("avx512", ("-march=x86-64-v4",) + LEVEL_FLAGS)]
    return found


# Why the order matters: inline functions and templates that the copies share
# (the standard library's, Eigen's) are emitted once per object file, and the
# linker keeps the first copy it meets. Linking the baseline objects first, then
# the levels lowest first, makes every shared copy one that the lowest level
# using it can run.
def link_order(objects_by_level):
    """objects_by_level: {level name: [objects]} -> one list, lowest level first."""
    return [obj for level in levels() for obj in objects_by_level.get(level.name, [])]


def main(argv):
    what = argv[1] if len(argv) > 1 else ""
    if what == "sources":
        print("\n".join(SHARED_SOURCES))
    elif what == "level-sources":
        print("\n".join(LEVEL_SOURCES))
    elif what == "levels":
        for level in levels(argv[2] if len(argv) > 2 else None):
            print(" ".join((level.name, level.namespace) + level.flags))
    else:
        print("usage: python -m build_tools.cpu_levels sources|level-sources|levels",
              file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
