// Software prefetch of the next tile of a CPU pass while the current one
// computes (depthwise_cpu.cc, conv1d_cpu.cc through the GEMM). In the
// level's namespace, as everything the passes inline (cpu_level.h).
#ifndef TF_CONV1D_OP_CORE_TILE_PREFETCH_H_
#define TF_CONV1D_OP_CORE_TILE_PREFETCH_H_

#include <algorithm>
#include <cstdint>

#include "cc/kernels/core/conv1d_geometry.h"
#include "cc/kernels/core/cpu_level.h"
#include "cc/kernels/core/int_division.h"

namespace conv1d {
inline namespace TF_CONV1D_LEVEL_NAMESPACE {

// Brings a span of memory toward the core a few lines at a time: the next
// tile's input and output while this tile computes, so that its first
// loads (each lane vector walks down rows a row pitch apart, which the
// hardware prefetchers do not follow) and its stores' reads of the lines
// they write overlap with the arithmetic instead of waiting for memory.
// Spread thinly: a burst of prefetches fills the core's line-fill buffers
// and stalls it until they drain. kWrite asks for the lines to be written
// (the output), not only read: the input stays shared with the core that
// reads the same rows for its neighbouring tile.
template <bool kWrite>
class SpanPrefetch {
 public:
  SpanPrefetch() = default;
  SpanPrefetch(const void* begin, int64_t bytes, int64_t steps)
      : next_(static_cast<const char*>(begin)),
        end_(next_ + std::max<int64_t>(bytes, 0)),
        lines_per_step_(CeilDiv(CeilDiv(std::max<int64_t>(bytes, 0), 64),
                                std::max<int64_t>(steps, 1))) {}
  void Step() {
    BeginStep();
    EndStep();
  }
  // A step's lines one at a time (Line) between pieces of the step's work,
  // EndStep fetching what Line left.
  void BeginStep() { due_ = lines_per_step_; }
  bool Line() {
    if (due_ <= 0 || next_ >= end_) return false;
    __builtin_prefetch(next_, kWrite ? 1 : 0, 2);
    next_ += 64;
    --due_;
    return true;
  }
  void EndStep() {
    while (Line()) {
    }
    due_ = 0;
  }

 private:
  const char* next_ = nullptr;
  const char* end_ = nullptr;
  int64_t lines_per_step_ = 0;
  int64_t due_ = 0;
};

// A tile's spans, prefetched over the steps of the tile computed before it:
// a forward tile's input and output; a filter-gradient tile's input, output
// gradient and operand (all three read); an input-gradient tile's output
// gradient and operand.
struct TilePrefetch {
  SpanPrefetch<false> input;
  SpanPrefetch<true> output;
  SpanPrefetch<false> gradient, operand;
  // Whether the GEMM's float and double micro-kernels take each step's lines
  // one at a time over their depth loop (BeginStep, Line, EndStep) instead
  // of in one burst before it (Step). One thread on Golden Cove, against the burst: the
  // forward tiles 1.02 to 1.03x (the pointwise tile's burst, 24 lines per
  // register tile, stalled on the line-fill buffers: 3% of its samples); the
  // filter gradient's tiles 0.94x (their A is read down the steps, a new line
  // each step, which keeps the buffers busy already), so not there.
  bool spread = false;

  void Step() {
    input.Step();
    output.Step();
    gradient.Step();
    operand.Step();
  }
  void BeginStep() {
    input.BeginStep();
    output.BeginStep();
    gradient.BeginStep();
    operand.BeginStep();
  }
  // One line of the step, from the first span with lines due.
  void Line() { input.Line() || output.Line() || gradient.Line() || operand.Line(); }
  void EndStep() {
    input.EndStep();
    output.EndStep();
    gradient.EndStep();
    operand.EndStep();
  }
};

// The input and output spans of forward tile `unit` (tiles of `tile` rows,
// item by item), to prefetch over `steps` calls of Step(): the input where
// given and its rows are contiguous (NWC), the output where given (written
// in place and not streamed); spread over the register tiles' depth loops.
template <typename T>
TilePrefetch PrefetchOfTile(const Conv1DGeometry& g, const T* input, const T* output,
                            int64_t unit, int64_t tile, int64_t steps) {
  const int64_t tiles_per_item = CeilDiv(g.out_steps, tile);
  const int64_t n = unit / tiles_per_item, o0 = (unit % tiles_per_item) * tile;
  const int64_t rows = std::min(tile, g.out_steps - o0);
  const int64_t first = std::max<int64_t>(o0 * g.stride - g.pad_left, 0);
  const int64_t last = std::min<int64_t>(
      o0 * g.stride - g.pad_left + (rows - 1) * g.stride + g.kernel_extent, g.in_steps);
  TilePrefetch prefetch;
  prefetch.spread = true;
  if (input != nullptr && g.layout == Layout::kNWC && last > first) {
    prefetch.input = SpanPrefetch<false>(input + (n * g.in_steps + first) * g.in_channels,
                                         (last - first) * g.in_channels * int64_t{sizeof(T)},
                                         steps);
  }
  if (output != nullptr) {
    prefetch.output = SpanPrefetch<true>(output + (n * g.out_steps + o0) * g.out_channels,
                                         rows * g.out_channels * int64_t{sizeof(T)}, steps);
  }
  return prefetch;
}

// Values [first, first + values) of the output gradient, and of the operand
// where given (null where dz does not read it), into a tile's prefetch.
template <typename T>
void PrefetchGradientRows(const T* grad_output, const T* operand, int64_t first,
                          int64_t values, int64_t steps, TilePrefetch* prefetch) {
  const int64_t bytes = values * int64_t{sizeof(T)};
  prefetch->gradient = SpanPrefetch<false>(grad_output + first, bytes, steps);
  if (operand != nullptr) prefetch->operand = SpanPrefetch<false>(operand + first, bytes, steps);
}

// The spans of filter-gradient tile `unit` (the forward's tiles): its input
// rows and its rows of the output gradient (and operand), NWC only.
template <typename T>
TilePrefetch PrefetchOfFilterGradTile(const Conv1DGeometry& g, const T* input,
                                      const T* grad_output, const T* operand, int64_t unit,
                                      int64_t tile, int64_t steps) {
  // Only the forward tile's input span: not its spread (the member's comment).
  TilePrefetch prefetch;
  prefetch.input = PrefetchOfTile<T>(g, input, nullptr, unit, tile, steps).input;
  if (g.layout != Layout::kNWC) return prefetch;
  const int64_t tiles_per_item = CeilDiv(g.out_steps, tile);
  const int64_t n = unit / tiles_per_item, o0 = (unit % tiles_per_item) * tile;
  PrefetchGradientRows(grad_output, operand, (n * g.out_steps + o0) * g.out_channels,
                       std::min(tile, g.out_steps - o0) * g.out_channels, steps, &prefetch);
  return prefetch;
}

}  // namespace TF_CONV1D_LEVEL_NAMESPACE
}  // namespace conv1d

#endif  // TF_CONV1D_OP_CORE_TILE_PREFETCH_H_
