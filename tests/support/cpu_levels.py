"""Which instruction-set levels this CPU supports, read from /proc/cpuinfo:
independent of the library's own cpuid code (cc/kernels/core/cpu_isa.cc),
which the tests check against it."""
import platform

# The instructions each level's copy may use: x86-64-v3 and x86-64-v4 (GCC's
# -march levels), as /proc/cpuinfo names them; abm is LZCNT.
LEVEL_FLAGS = {
    "baseline": (),
    "avx2": ("avx", "avx2", "fma", "bmi1", "bmi2", "f16c", "abm", "movbe"),
    "avx512": ("avx", "avx2", "fma", "bmi1", "bmi2", "f16c", "abm", "movbe",
               "avx512f", "avx512bw", "avx512cd", "avx512dq", "avx512vl"),
}
LEVELS = tuple(LEVEL_FLAGS)


def cpu_flags():
    try:
        with open("/proc/cpuinfo") as f:
            return set(next((line.split(":", 1)[1].split() for line in f
                             if line.startswith("flags")), []))
    except OSError:
        return set()


def supported_levels():
    if platform.machine() not in ("x86_64", "AMD64"):
        return ["baseline"]
    flags = cpu_flags()
    return [level for level, needs in LEVEL_FLAGS.items() if flags.issuperset(needs)]
