// A few small cases of the CPU passes at the level this CPU (or TF_CONV1D_ISA)
// selects, each against the naive double implementation of core_check.h:
// small enough to run under an emulator (tests/core/test_core_emulated_cpus.py runs
// it under qemu as CPUs without AVX-512 or without AVX, to show that the
// library picks the level such a CPU has and runs no instruction it lacks).
//
// Usage: level_smoke     (prints the level, the cases checked, the failures)
#include <cstdio>

#include "cc/kernels/core/cpu_isa.h"
#include "tests/native/core_check.h"

int main() {
  using namespace core_check;  // NOLINT: the test's own helpers
  const conv1d::cpu_isa::Selection& level = conv1d::cpu_isa::Selected();
  if (!level.error.empty()) {
    std::fprintf(stderr, "level_smoke: %s\n", level.error.c_str());
    return 2;
  }
  std::printf("level_smoke: level %s\n", conv1d::cpu_isa::Name(level.level));
  // Whole and partial register panels, several depth blocks, both layouts,
  // an activation applied in registers and one in the vectorized arrays; a
  // depthwise case past one register block (64 float channels) with a tail,
  // and a grouped one.
  const ActivationSpec relu{Activation::kRelu, 0.2f};
  const ActivationSpec gelu{Activation::kGelu, 0.2f};
  const Case cases[] = {
      {2, 40, 20, 3, 40, 1, 1, Padding::kSame, Layout::kNWC, gelu, true},
      {1, 33, 7, 5, 19, 2, 2, Padding::kCausal, Layout::kNCW, relu, true},
      {2, 30, 130, 3, 33, 1, 1, Padding::kValid, Layout::kNWC, relu, false},
      {2, 30, 70, 4, 70, 1, 2, Padding::kCausal, Layout::kNWC, gelu, true, 70},
      {1, 25, 12, 3, 24, 2, 1, Padding::kSame, Layout::kNCW, relu, true, 4},
  };
  Stats stats;
  uint64_t seed = 7;
  for (const Case& c : cases) CheckAllDtypes(c, ++seed, &stats);
  std::printf("level_smoke: %ld cases, %ld failures\n", stats.cases, stats.failures);
  return stats.failures == 0 ? 0 : 1;
}
