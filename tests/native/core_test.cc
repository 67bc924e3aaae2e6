// Standalone test of the framework-free CPU core, without TensorFlow, over a
// seeded sweep: hand-picked edges (empty tensors, kernel longer than the
// input, strides and dilations up to 2^63, geometries that must be refused),
// the same for grouped and depthwise convolutions, random shapes, groups,
// attributes, activations and dtypes, and shapes large enough for the
// Winograd forward tiles; each case checked by core_check.h, and each dense
// random one as a streamed chunk by stream_check.h. scripts/sanitize.sh
// builds it with AddressSanitizer + UndefinedBehaviorSanitizer (or
// ThreadSanitizer).
//
// Usage: core_test [random_cases [seed]]
#include <cstdio>
#include <cstdlib>
#include <limits>
#include <random>
#include <vector>

#include "cc/kernels/core/cpu_isa.h"
#include "tests/native/core_check.h"
#include "tests/native/stream_check.h"

namespace {

using namespace core_check;  // NOLINT: the test's own helpers

// ---------------------------------------------------------------- sweeps

constexpr int64_t kBig = int64_t(1) << 62;

// Hand-picked edges: empty tensors, single steps and channels, kernels longer
// than the input, strides past the input, dilations near 2^62, geometries
// that must be refused.
std::vector<Case> EdgeCases() {
  std::vector<Case> cases;
  const ActivationSpec relu{Activation::kRelu, 0.2f};
  const ActivationSpec gelu{Activation::kGelu, 0.2f};
  const ActivationSpec leaky_neg{Activation::kLeakyRelu, -0.3f};
  for (Padding p : {Padding::kValid, Padding::kSame, Padding::kCausal}) {
    for (Layout l : {Layout::kNWC, Layout::kNCW}) {
      const Case base{2, 9, 3, 3, 4, 1, 1, p, l, relu, true};
      auto with = [&](auto edit) { Case c = base; edit(c); cases.push_back(c); };
      with([&](Case& c) {});
      with([&](Case& c) { c.batch = 0; });
      with([&](Case& c) { c.batch = 0; c.steps = kBig; });  // dims multiply past 2^63
      with([&](Case& c) { c.batch = 0; c.steps = int64_t(1) << 40; });  // empty, huge steps
      if (p == Padding::kValid) {  // an empty input of 2^40 steps, 3 output steps
        with([&](Case& c) { c.cin = 0; c.steps = int64_t(1) << 40; c.kernel = 2;
                            c.dilation = (int64_t(1) << 40) - 3; });
      }
      with([&](Case& c) { c.steps = 0; });
      with([&](Case& c) { c.steps = 1; });
      with([&](Case& c) { c.steps = 1; c.kernel = 1; c.cin = 1; c.cout = 1; });
      with([&](Case& c) { c.cin = 0; });                        // empty input and filter
      with([&](Case& c) { c.cin = 0; c.bias = false; c.act = gelu; });
      with([&](Case& c) { c.kernel = 12; });                    // longer than the input
      with([&](Case& c) { c.kernel = 4; c.dilation = 5; });     // extent 16 > 9 steps
      with([&](Case& c) { c.stride = 10; });                    // stride past the input
      with([&](Case& c) { c.stride = 1000; c.act = leaky_neg; });
      with([&](Case& c) { c.stride = kBig; });
      with([&](Case& c) { c.stride = std::numeric_limits<int64_t>::max(); c.act = gelu; });
      with([&](Case& c) { c.stride = 4; c.steps = 9; c.kernel = 2; });  // phases without rows
      with([&](Case& c) { c.kernel = 2; c.dilation = int64_t(1) << 40; });
      with([&](Case& c) { c.kernel = 2; c.dilation = int64_t(1) << 61; });
      with([&](Case& c) { c.kernel = 2; c.dilation = kBig; });        // padded span past 2^63
      with([&](Case& c) { c.kernel = 3; c.dilation = kBig; });        // (K-1)*d overflows
      with([&](Case& c) { c.kernel = 2; c.dilation = std::numeric_limits<int64_t>::max(); });
      // One tap: the dilation spaces nothing, but a pitch scaled by it overflowed.
      with([&](Case& c) { c.kernel = 1; c.dilation = std::numeric_limits<int64_t>::max(); });
      with([&](Case& c) { c.kernel = 1; c.dilation = kBig; c.cin = c.cout = 6; c.groups = 3; });
      with([&](Case& c) { c.stride = 3; c.dilation = 2; c.kernel = 4; c.steps = 40; c.act = leaky_neg; });
      with([&](Case& c) { c.steps = 1500; c.cin = 2; c.cout = 3; });  // several row tiles
      with([&](Case& c) { c.steps = 1500; c.cin = 2; c.cout = 3; c.stride = 2; c.dilation = 3; });
      // One tap deep enough for the forward's prefetching micro-kernel, its
      // depth not a whole number of the kernel's runs of 8 steps.
      with([&](Case& c) { c.steps = 700; c.cin = 131; c.cout = 40; c.kernel = 1; });
    }
  }
  return cases;
}

// Grouped and depthwise edges: depthwise widths either side of the register
// block of depthwise_cpu.cc (64 channels of float, 32 of double) and of its
// vectors, channel multipliers, one channel or one filter per group, empty
// tensors, long kernels, strides past the input, several row tiles, and
// groups that must be refused.
std::vector<Case> GroupEdgeCases() {
  std::vector<Case> cases;
  const ActivationSpec relu{Activation::kRelu, 0.2f};
  const ActivationSpec silu{Activation::kSilu, 0.2f};
  for (Padding p : {Padding::kValid, Padding::kSame, Padding::kCausal}) {
    for (Layout l : {Layout::kNWC, Layout::kNCW}) {
      const Case depthwise{2, 9, 4, 3, 8, 1, 1, p, l, silu, true, 4};  // multiplier 2
      const Case grouped{2, 9, 6, 3, 4, 1, 1, p, l, relu, true, 2};
      auto with = [&](const Case& base, auto edit) { Case c = base; edit(c); cases.push_back(c); };
      for (const Case& base : {depthwise, grouped}) {
        with(base, [&](Case& c) {});
        with(base, [&](Case& c) { c.batch = 0; });
        with(base, [&](Case& c) { c.steps = 0; });
        with(base, [&](Case& c) { c.steps = 1; c.kernel = 1; });
        with(base, [&](Case& c) { c.kernel = 12; });  // longer than the input
        with(base, [&](Case& c) { c.stride = 10; });  // past the input
        with(base, [&](Case& c) { c.stride = kBig; c.bias = false; });
        with(base, [&](Case& c) { c.kernel = 2; c.dilation = int64_t(1) << 40; });
        with(base, [&](Case& c) { c.kernel = 2; c.dilation = kBig; });  // refused
        with(base, [&](Case& c) { c.stride = 3; c.dilation = 2; c.kernel = 4; c.steps = 40; });
        with(base, [&](Case& c) { c.steps = 700; c.stride = 2; });  // several row tiles
      }
      for (int64_t width : {31, 33, 63, 64, 65, 130}) {  // multiplier 1: the vector path
        with(depthwise, [&](Case& c) { c.cin = c.cout = c.groups = width; c.steps = 12; });
      }
      // Long filters of multiplier 1: the sliding form's groups of rows (12
      // on AVX-512, 8 below) and the groups of 8, 4, 2 and 1 left over.
      for (int64_t steps : {24, 35, 60}) {
        with(depthwise, [&](Case& c) { c.cin = c.cout = c.groups = 64; c.kernel = 15;
                                       c.steps = steps; });
      }
      with(depthwise, [&](Case& c) { c.cin = c.groups = 65; c.cout = 195; });  // multiplier 3
      with(depthwise, [&](Case& c) { c.cin = c.groups = c.cout = 2; });
      with(grouped, [&](Case& c) { c.cin = c.cout = c.groups = 1; });  // one channel: dense
      with(grouped, [&](Case& c) { c.cin = 8; c.cout = 16; c.groups = 8; });  // one input each
      with(grouped, [&](Case& c) { c.cout = 2; });  // one filter per group
      with(grouped, [&](Case& c) { c.cin = 0; c.cout = 6; c.groups = 3; });  // empty groups
      if (p == Padding::kValid) {  // an empty input of 2^40 steps, 3 output steps
        with(grouped, [&](Case& c) { c.cin = 0; c.cout = 3; c.groups = 3; c.kernel = 2;
                                     c.steps = int64_t(1) << 40;
                                     c.dilation = (int64_t(1) << 40) - 3; });
      }
      // Groups that must be refused.
      with(grouped, [&](Case& c) { c.groups = 0; });
      with(grouped, [&](Case& c) { c.groups = -2; });
      with(grouped, [&](Case& c) { c.groups = 4; });  // not dividing 6 input channels
      with(grouped, [&](Case& c) { c.cin = 4; c.cout = 6; c.groups = 4; });  // nor 6 filters
      with(grouped, [&](Case& c) { c.groups = 12; });  // more groups than channels
      with(grouped, [&](Case& c) { c.groups = kBig; });
    }
  }
  return cases;
}

// The Winograd forward tiles (stride 1, K = 3 to 10, 24 to 128 channels,
// 1024 output rows or more), items that end at several places in a set of
// six rows (F(6,3)) or four (F(4,5): K = 4, 5 and 10).
std::vector<Case> WinogradCases() {
  const ActivationSpec relu{Activation::kRelu, 0.2f};
  const ActivationSpec gelu{Activation::kGelu, 0.2f};
  return {{1, 4099, 64, 3, 128, 1, 1, Padding::kSame, Layout::kNWC, relu, true},
          {2, 2055, 128, 6, 64, 1, 1, Padding::kCausal, Layout::kNCW, gelu, false},
          {1, 4101, 64, 5, 128, 1, 1, Padding::kValid, Layout::kNWC, relu, true},
          {1, 1026, 128, 3, 128, 1, 1, Padding::kSame, Layout::kNWC, relu, true},
          {2, 1030, 24, 3, 48, 1, 1, Padding::kSame, Layout::kNCW, gelu, true},
          {1, 2051, 32, 5, 64, 1, 1, Padding::kCausal, Layout::kNWC, relu, false},
          {1, 2050, 64, 4, 48, 1, 1, Padding::kSame, Layout::kNWC, relu, true},
          {1, 1030, 64, 7, 64, 1, 1, Padding::kCausal, Layout::kNCW, gelu, false},
          // F(4,5) over two groups of five taps.
          {1, 2062, 48, 10, 64, 1, 1, Padding::kValid, Layout::kNCW, gelu, true},
          // Strides folded into the channels: 4 x 1 channels and 20 taps, 2 x 3
          // and 5 (the last tap half zero), 3 x 2 and 3 (the last tap a third).
          {2, 4160, 1, 80, 64, 4, 1, Padding::kValid, Layout::kNWC, relu, true},
          {1, 2051, 3, 9, 40, 2, 1, Padding::kSame, Layout::kNCW, gelu, false},
          {1, 3100, 2, 7, 33, 3, 1, Padding::kCausal, Layout::kNWC, relu, true}};
}

Case RandomCase(std::mt19937_64& rng) {
  auto pick = [&](std::initializer_list<int64_t> v) { return v.begin()[rng() % v.size()]; };
  auto uniform = [&](int64_t lo, int64_t hi) { return lo + int64_t(rng() % uint64_t(hi - lo + 1)); };
  Case c;
  c.batch = pick({0, 1, 1, 2, 3});
  // Half dense, a quarter in 2 to 8 groups, a quarter depthwise (with
  // widths either side of the register block and multipliers 1 to 3).
  switch (rng() % 4) {
    case 0:
      c.groups = uniform(2, 8);
      c.cin = c.groups * pick({0, 1, 2, 2, 3, 4});
      c.cout = c.groups * pick({1, 1, 2, 3});
      break;
    case 1:
      c.cin = c.groups = pick({1, 2, 3, 5, 8, 16, 31, 33, 63, 64, 65, 100, 130});
      c.cout = c.cin * pick({1, 1, 2, 3});
      break;
    default:
      c.cin = pick({0, 1, 1, 2, 3, 5, 8});
      c.cout = pick({1, 1, 2, 3, 4, 7});
  }
  c.kernel = pick({1, 1, 2, 3, 4, 5, 7});
  c.stride = rng() % 8 == 0 ? pick({7, 64, kBig}) : uniform(1, 4);
  c.dilation = rng() % 8 == 0 ? pick({7, 64, int64_t(1) << 40}) : uniform(1, 3);
  c.padding = static_cast<Padding>(rng() % 3);
  c.layout = rng() % 2 ? Layout::kNWC : Layout::kNCW;
  c.act.kind = static_cast<Activation>(rng() % 13);
  c.act.negative_slope = rng() % 2 ? 0.2f : -0.3f;
  c.bias = rng() % 2;
  const int64_t extent = (c.dilation > 64) ? 1 : (c.kernel - 1) * c.dilation + 1;
  c.steps = rng() % 6 == 0 ? uniform(0, 3) : (rng() % 20 == 0 ? uniform(500, 1200) : extent - 2 + uniform(0, 30));
  c.steps = std::max<int64_t>(0, c.steps);
  return c;
}

}  // namespace

int main(int argc, char** argv) {
  const long random_cases = argc > 1 ? std::atol(argv[1]) : 400;
  const uint64_t seed = argc > 2 ? std::strtoull(argv[2], nullptr, 10) : 20240601;
  // The level the passes run at; tests/core/test_core_sanitizers.py checks it is
  // the one TF_CONV1D_ISA asked for.
  const conv1d::cpu_isa::Selection& level = conv1d::cpu_isa::Selected();
  if (!level.error.empty()) {
    std::fprintf(stderr, "core_test: %s\n", level.error.c_str());
    return 2;
  }
  std::printf("core_test: level %s\n", conv1d::cpu_isa::Name(level.level));
  Stats stats;
  uint64_t case_seed = seed;
  for (const Case& c : EdgeCases()) CheckAllDtypes(c, ++case_seed, &stats);
  for (const Case& c : GroupEdgeCases()) CheckAllDtypes(c, ++case_seed, &stats);
  std::mt19937_64 rng(seed);
  for (long i = 0; i < random_cases; ++i) {
    const Case c = RandomCase(rng);
    CheckAllDtypes(c, ++case_seed, &stats);
    CheckStreamAllDtypes(c, case_seed, &stats);  // the case's input as a streamed chunk
  }
  for (const Case& c : WinogradCases()) CheckAllDtypes(c, ++case_seed, &stats);
  std::printf("core_test: %ld cases (%ld refused geometries), %ld elements checked, "
              "%ld failures\n", stats.cases, stats.refused, stats.elements, stats.failures);
  return stats.failures == 0 ? 0 : 1;
}
