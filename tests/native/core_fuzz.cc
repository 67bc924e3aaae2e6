// libFuzzer target for the framework-free CPU core: the fuzzer's bytes pick
// a geometry (sizes small enough for the naive reference, strides and
// dilations up to 2^63 - 1), an activation, a seed and then the groups;
// core_check.h checks all four dtypes. Any mismatch aborts, so the fuzzer
// keeps the input. Build and run with scripts/fuzz_core.sh (needs clang).
//
// The groups are decoded last, and bytes that have run out decode as dense
// (FuzzedDataProvider gives the range's minimum then), so an input saved
// before groups existed still decodes to the case it was kept for.
#include <fuzzer/FuzzedDataProvider.h>

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <limits>

#include "tests/native/core_check.h"

namespace {

using namespace core_check;  // NOLINT: the test's own helpers

// Small values mostly, with the powers of two and limits hostile input uses.
int64_t Attribute(FuzzedDataProvider& data) {
  static const int64_t kSpecial[] = {int64_t(1) << 31, (int64_t(1) << 32) + 1, int64_t(1) << 40,
                                     int64_t(1) << 61, int64_t(1) << 62,
                                     std::numeric_limits<int64_t>::max()};
  if (data.ConsumeIntegralInRange<int>(0, 7) == 0) {
    return kSpecial[data.ConsumeIntegralInRange<size_t>(0, std::size(kSpecial) - 1)];
  }
  return data.ConsumeIntegralInRange<int64_t>(-1, 9);
}

// Turns the dense case into a grouped one, by the mode the bytes pick:
// 0 dense; 1 depthwise, the decoded filters as the channel multiplier and
// the decoded channels times up to 22 (past the 64-channel register block
// of the depthwise passes); 2 in 2 to 8 groups of the decoded channels and
// filters each; 3 groups as hostile as the other attributes (mostly refused).
void DecodeGroups(FuzzedDataProvider& data, Case* c) {
  switch (data.ConsumeIntegralInRange<int>(0, 3)) {
    case 0:
      break;
    case 1:
      c->cin *= data.ConsumeIntegralInRange<int64_t>(1, 22);
      c->cout *= c->cin;
      c->groups = c->cin;
      break;
    case 2:
      c->groups = data.ConsumeIntegralInRange<int64_t>(2, 8);
      c->cin *= c->groups;
      c->cout *= c->groups;
      break;
    default:
      c->groups = Attribute(data);
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* bytes, size_t size) {
  FuzzedDataProvider data(bytes, size);
  Case c;
  c.batch = data.ConsumeIntegralInRange<int64_t>(0, 3);
  c.steps = data.ConsumeIntegralInRange<int64_t>(0, 40);
  c.cin = data.ConsumeIntegralInRange<int64_t>(0, 6);
  c.kernel = data.ConsumeIntegralInRange<int64_t>(0, 7);
  c.cout = data.ConsumeIntegralInRange<int64_t>(0, 6);
  c.stride = Attribute(data);
  c.dilation = Attribute(data);
  c.padding = static_cast<Padding>(data.ConsumeIntegralInRange<int>(0, 2));
  c.layout = data.ConsumeBool() ? Layout::kNWC : Layout::kNCW;
  c.act.kind = static_cast<Activation>(data.ConsumeIntegralInRange<int>(0, 12));
  c.act.negative_slope = data.ConsumeBool() ? 0.2f : -0.3f;
  c.bias = data.ConsumeBool();
  const uint64_t seed = data.ConsumeIntegral<uint64_t>();
  DecodeGroups(data, &c);
  // The naive reference visits every (output step, tap): keep that bounded.
  if (c.stride < 1 || c.dilation < 1 || c.kernel < 1 || c.cout < 1) {
    Conv1DGeometry g;  // must be refused, never crash
    g.batch = c.batch, g.in_steps = c.steps, g.in_channels = c.cin, g.kernel_size = c.kernel;
    g.out_channels = c.cout, g.stride = c.stride, g.dilation = c.dilation;
    g.groups = c.groups;
    if (conv1d::ResolveGeometry(&g).empty()) std::abort();
    return 0;
  }
  Stats stats;
  CheckAllDtypes(c, seed, &stats);
  if (stats.failures > 0) std::abort();
  return 0;
}
