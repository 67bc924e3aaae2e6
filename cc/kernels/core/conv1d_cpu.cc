// CPU core: every pass is a loop over tiles of rows, each tile a few calls of
// the register-tiled gemm::Gemm, which reads its operands where they lie.
//
// A tile first takes a "slab": the contiguous run of input steps (or dz
// rows) its windows cover, as an NWC matrix of the accumulator type. For NWC
// float/double input away from the padding that is the input itself; at the
// edges, for NCW and for half/bfloat16 the few steps are copied (zero
// padding included), which is about `stride` times less than an im2col.
//
// Forward: output rows o of one batch item are
//   sum over taps t: slab[o * stride + t * dilation] x filter[t]
// With dilation 1 the taps of a window are adjacent, so a window is one row
// of length K * Cin; otherwise each tap is one depth block. The filter is
// packed once per call into the kernel's column panels; bias and the
// piecewise-linear activations are applied in registers, others while the
// output tile is in cache. NWC float/double output is written in place.
//
// Input gradient: input rows are split by phase (i + pad_left) mod stride.
// Rows of one phase receive contributions from a fixed subset of taps, each
// a shifted run of dz rows, so each phase is a stride-1 correlation of dz
// with those taps' transposed filters: no multiplications by the zeros a
// dilated-dz formulation would have.
//
// Filter gradient: slab^T x dz per tile, the kernel's rows being the K * Cin
// (tap, channel) pairs read down the steps, summed into a fixed number of
// partial sums that are added in a fixed order.
//
// Tiles, depth blocks and partial-sum groups depend on the problem size
// only, so results are bitwise independent of the number of threads.
#include "cc/kernels/core/conv1d_cpu.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <mutex>
#include <type_traits>
#include <vector>

#include "cc/kernels/core/activation_arrays.h"
#include "cc/kernels/core/gemm_kernel.h"
#include "cc/kernels/core/output_pages.h"

namespace conv1d {
namespace {

// Accumulate half and bfloat16 in float, float in float, double in double.
template <typename T>
struct AccumulatorOf { using type = float; };
template <>
struct AccumulatorOf<double> { using type = double; };

int64_t CeilDiv(int64_t a, int64_t b) { return (a + b - 1) / b; }
int64_t RoundUp(int64_t a, int64_t b) { return CeilDiv(a, b) * b; }
// Floor and ceiling of a / b for any sign of a (b > 0).
int64_t FloorDiv(int64_t a, int64_t b) { return a >= 0 ? a / b : -((-a + b - 1) / b); }
int64_t CeilDivSigned(int64_t a, int64_t b) { return -FloorDiv(-a, b); }

// Depth of one gemm call at most: a B panel of this depth (x kNr columns)
// stays in L1 while the rows of a tile stream past it.
constexpr int64_t kMaxDepth = 320;
// Working set of one tile (slab + output tile), within the L2 of a core.
constexpr int64_t kTileBytes = 192 * 1024;
// Tiles a pass should have at least, where the rows allow, so that any
// number of threads up to this gets an even share.
constexpr int64_t kMinUnits = 16;

// Rows per tile for `bytes_per_row` of working set, at most max_rows, a
// multiple of the kernel's row tile, and small enough for min_units tiles.
template <typename A>
int64_t TileRows(int64_t bytes_per_row, int64_t max_rows, int64_t batch, int64_t cap,
                 int64_t min_units = kMinUnits) {
  constexpr int64_t kMr = gemm::Tile<A>::kMr;
  int64_t rows = kTileBytes / std::max<int64_t>(1, bytes_per_row);
  rows = std::min(std::max(rows, 4 * kMr), cap);
  if (batch < min_units) {
    const int64_t per_item = CeilDiv(min_units, std::max<int64_t>(batch, 1));
    rows = std::min(rows, std::max(2 * kMr, CeilDiv(max_rows, per_item)));
  }
  rows = RoundUp(rows, kMr);
  return std::max<int64_t>(1, std::min(rows, max_rows));
}

// A run of `count` input steps from `first` (may lie partly outside the
// input: zeros there) of one batch item, as an NWC [count, channels] matrix
// of A. Points into the input where it already is one, else fills scratch.
template <typename T, typename A>
const A* Slab(const Conv1DGeometry& g, const T* item, int64_t steps, int64_t channels,
              int64_t first, int64_t count, std::vector<A>* scratch) {
  if constexpr (std::is_same_v<T, A>) {
    if (g.layout == Layout::kNWC && first >= 0 && first + count <= steps) {
      return item + first * channels;
    }
  }
  scratch->resize(count * channels);
  A* dst = scratch->data();
  if (channels == 0) return dst;  // (the item may be null: no pointer arithmetic on it)
  const int64_t step_stride = g.step_stride(channels);
  const int64_t channel_stride = g.channel_stride(steps);
  for (int64_t r = 0; r < count; ++r) {
    const int64_t i = first + r;
    A* row = dst + r * channels;
    if (i < 0 || i >= steps) {
      std::fill(row, row + channels, A(0));
    } else if (channel_stride == 1) {
      const T* src = item + i * step_stride;
      for (int64_t c = 0; c < channels; ++c) row[c] = static_cast<A>(src[c]);
    } else {
      const T* src = item + i * step_stride;
      for (int64_t c = 0; c < channels; ++c) row[c] = static_cast<A>(src[c * channel_stride]);
    }
  }
  return dst;
}

// The input windows of output rows [o0, o0 + rows) of one batch item, as
// the kernels read them: element (row r, tap t, channel c) is at
// data[r * row_pitch + t * tap_pitch + c]. Usually the slab of the steps
// they cover (row_pitch stride * Cin, tap_pitch dilation * Cin); where the
// windows are sparse in their slab (stride or dilation much larger than the
// kernel), the windows alone, gathered into a [rows, K * Cin] matrix.
template <typename A>
struct Windows {
  const A* data;
  int64_t row_pitch, tap_pitch;
  bool gathered;
};

// Whether TileWindows can return a slab for tiles of up to `tile` rows (its
// conditions imply this bound), so that slab offsets fit in int64.
bool SlabPossible(const Conv1DGeometry& g, int64_t tile) {
  return g.kernel_extent <= std::max(g.in_steps, tile * g.kernel_size);
}

template <typename T, typename A>
Windows<A> TileWindows(const Conv1DGeometry& g, const T* item, int64_t o0, int64_t rows,
                       std::vector<A>* scratch) {
  const int64_t cin = g.in_channels, s = g.stride, d = g.dilation, k = g.kernel_size;
  const int64_t first = o0 * s - g.pad_left;
  const int64_t count = (rows - 1) * s + g.kernel_extent;
  const bool in_place = std::is_same_v<T, A> && g.layout == Layout::kNWC && first >= 0 &&
                        first + count <= g.in_steps;
  if (in_place || count <= rows * k) {
    return {Slab<T, A>(g, item, g.in_steps, cin, first, count, scratch), s * cin, d * cin, false};
  }
  scratch->resize(rows * k * cin);
  A* dst = scratch->data();
  if (cin > 0) {
    const int64_t step_stride = g.step_stride(cin);
    const int64_t channel_stride = g.channel_stride(g.in_steps);
    for (int64_t r = 0; r < rows; ++r) {
      for (int64_t t = 0; t < k; ++t, dst += cin) {
        const int64_t i = first + r * s + t * d;
        if (i < 0 || i >= g.in_steps) {
          std::fill(dst, dst + cin, A(0));
        } else {
          const T* src = item + i * step_stride;
          for (int64_t c = 0; c < cin; ++c) dst[c] = static_cast<A>(src[c * channel_stride]);
        }
      }
    }
  }
  return {scratch->data(), k * cin, cin, true};
}

// dz = dy * activation'(operand) over `count` elements `stride` apart.
// One loop per activation, so that the common ones vectorize; Stride is
// std::integral_constant 1 for NWC rows, which GCC only vectorizes as such.
template <typename T, typename A, typename Stride>
void ActivationGradRow(const ActivationSpec& act, const T* dy, const T* operand,
                       int64_t count, Stride stride, A* dz) {
  switch (act.kind) {
    case Activation::kLinear:
      for (int64_t c = 0; c < count; ++c) dz[c] = static_cast<A>(dy[c * stride]);
      return;
    case Activation::kRelu:  // a product, so that a NaN dy stays NaN (as in ReluGrad)
      for (int64_t c = 0; c < count; ++c) {
        const A slope = static_cast<A>(operand[c * stride]) > A(0) ? A(1) : A(0);
        dz[c] = static_cast<A>(dy[c * stride]) * slope;
      }
      return;
    case Activation::kTanh:
      for (int64_t c = 0; c < count; ++c) {
        const A y = static_cast<A>(operand[c * stride]);
        dz[c] = static_cast<A>(dy[c * stride]) * (A(1) - y * y);
      }
      return;
    default:
      if constexpr (std::is_same_v<T, float> && std::is_same_v<A, float> &&
                    !std::is_same_v<Stride, int64_t>) {
        if (ActivationGradFloats(act, dy, operand, count, dz)) return;
      }
      for (int64_t c = 0; c < count; ++c) {
        dz[c] = static_cast<A>(dy[c * stride]) *
                ActivationDerivative<A>(act, static_cast<A>(operand[c * stride]));
      }
  }
}

// dz rows [first, first + count) of one batch item (zeros outside the
// output) as a [count, ld] matrix; columns from out_channels to ld are zero.
template <typename T, typename A>
void ActivationGradRows(const Conv1DGeometry& g, const ActivationSpec& act, const T* dy,
                        const T* operand, int64_t first, int64_t count, int64_t ld, A* dz) {
  const int64_t cout = g.out_channels;
  const int64_t step_stride = g.step_stride(cout);
  const int64_t channel_stride = g.channel_stride(g.out_steps);
  for (int64_t r = 0; r < count; ++r) {
    const int64_t o = first + r;
    A* row = dz + r * ld;
    if (cout == 0 || o < 0 || o >= g.out_steps) {  // (cout == 0: dy may be null)
      std::fill(row, row + ld, A(0));
      continue;
    }
    const T* dy_row = dy + o * step_stride;
    const T* operand_row = operand + o * step_stride;
    if (channel_stride == 1) {
      ActivationGradRow<T, A>(act, dy_row, operand_row, cout,
                              std::integral_constant<int64_t, 1>(), row);
    } else {
      ActivationGradRow<T, A>(act, dy_row, operand_row, cout, channel_stride, row);
    }
    std::fill(row + cout, row + ld, A(0));
  }
}

// dz rows [first, first + count) of one batch item as a [count, ld] matrix:
// dy itself where it already is one (`dz_is_dy`: linear, NWC, A = T and
// ld = Cout; rows inside the output), else computed into *scratch.
template <typename T, typename A>
const A* DzRows(const Conv1DGeometry& g, const ActivationSpec& act, bool dz_is_dy,
                const T* dy, const T* operand, int64_t first, int64_t count, int64_t ld,
                std::vector<A>* scratch) {
  if (dz_is_dy && first >= 0 && first + count <= g.out_steps) {
    return reinterpret_cast<const A*>(dy) + first * g.out_channels;
  }
  scratch->resize(count * ld);
  ActivationGradRows<T, A>(g, act, dy, operand, first, count, ld, scratch->data());
  return scratch->data();
}

// Writes a rows x channels tile (leading dimension ld) to rows [first, first
// + rows * row_step) (every row_step-th step) of a tensor item.
template <typename T, typename A>
void StoreRows(const A* tile, int64_t ld, int64_t rows, int64_t channels, int64_t steps,
               Layout layout, int64_t first, int64_t row_step, T* item) {
  if (layout == Layout::kNWC) {
    for (int64_t r = 0; r < rows; ++r) {
      T* dst = item + (first + r * row_step) * channels;
      const A* src = tile + r * ld;
      for (int64_t c = 0; c < channels; ++c) dst[c] = static_cast<T>(src[c]);
    }
  } else {
    for (int64_t c = 0; c < channels; ++c) {
      T* dst = item + c * steps + first;
      for (int64_t r = 0; r < rows; ++r) dst[r * row_step] = static_cast<T>(tile[r * ld + c]);
    }
  }
}

// The activations the gemm kernel applies in registers (when the
// pre-activation is not wanted as well).
gemm::Fused FusedActivation(const ActivationSpec& act) {
  switch (act.kind) {
    case Activation::kLinear: return gemm::Fused::kNone;
    case Activation::kRelu: return gemm::Fused::kRelu;
    case Activation::kRelu6: return gemm::Fused::kRelu6;
    case Activation::kLeakyRelu: return gemm::Fused::kLeakyRelu;
    default: return gemm::Fused::kNone;
  }
}

bool IsFusable(const ActivationSpec& act) {
  return act.kind == Activation::kLinear || FusedActivation(act) != gemm::Fused::kNone;
}

// Activate with the kind fixed at compile time, so that the loops over a
// tile vectorize (the switch inside Activate folds away).
template <Activation K, typename A>
void ActivateRowsAs(const ActivationSpec& act, A* tile, int64_t rows, int64_t cols,
                    int64_t ld) {
  ActivationSpec fixed = act;
  fixed.kind = K;
  for (int64_t r = 0; r < rows; ++r) {
    A* row = tile + r * ld;
    for (int64_t c = 0; c < cols; ++c) row[c] = Activate<A>(fixed, row[c]);
  }
}

// Applies the activation to a rows x cols tile in place.
template <typename A>
void ActivateRows(const ActivationSpec& act, A* tile, int64_t rows, int64_t cols, int64_t ld) {
  switch (act.kind) {
    case Activation::kLinear: return;
    case Activation::kRelu: return ActivateRowsAs<Activation::kRelu>(act, tile, rows, cols, ld);
    case Activation::kRelu6: return ActivateRowsAs<Activation::kRelu6>(act, tile, rows, cols, ld);
    case Activation::kLeakyRelu:
      return ActivateRowsAs<Activation::kLeakyRelu>(act, tile, rows, cols, ld);
    default: break;
  }
  for (int64_t r = 0; r < rows; ++r) {
    A* row = tile + r * ld;
    if constexpr (std::is_same_v<A, float>) {
      if (ActivateFloats(act, row, cols)) continue;
    }
    for (int64_t c = 0; c < cols; ++c) row[c] = Activate<A>(act, row[c]);
  }
}

// B operand in the kernel's layout: panels of kNr columns, each [depth, kNr],
// zero-padded; element (k, n) is at(k, n).
template <typename A, typename At>
std::vector<A> PackPanels(int64_t depth, int64_t cols, At at) {
  constexpr int64_t kNr = gemm::Tile<A>::kNr;
  const int64_t panels = gemm::Panels<A>(cols);
  std::vector<A> packed(panels * depth * kNr, A(0));
  for (int64_t p = 0; p < panels; ++p) {
    for (int64_t k = 0; k < depth; ++k) {
      A* dst = packed.data() + (p * depth + k) * kNr;
      const int64_t n_end = std::min(kNr, cols - p * kNr);
      for (int64_t n = 0; n < n_end; ++n) dst[n] = at(k, p * kNr + n);
    }
  }
  return packed;
}

// A depth block: `taps` runs of `depth` A columns, the first from a_offset
// (elements) in every row, the next tap_stride further on; and the B rows
// from b_row on, taps * depth of them.
struct DepthBlock {
  int64_t a_offset, b_row, depth, taps = 1, tap_stride = 0;
};

// Appends blocks covering `depth` contiguous elements, each at most kMaxDepth
// and all about equally long.
void SplitBlock(int64_t a_offset, int64_t b_row, int64_t depth, std::vector<DepthBlock>* out) {
  const int64_t pieces = std::max<int64_t>(1, CeilDiv(depth, kMaxDepth));
  for (int64_t i = 0; i < pieces; ++i) {
    const int64_t begin = i * depth / pieces, end = (i + 1) * depth / pieces;
    out->push_back({a_offset + begin, b_row + begin, end - begin});
  }
}

// Appends blocks covering `taps` runs of `depth` elements, tap_stride apart
// in A and consecutive in B: as many whole taps per block as kMaxDepth
// allows, or one tap split up when a single one is longer.
void TapBlocks(int64_t a_offset, int64_t tap_stride, int64_t b_row, int64_t taps,
               int64_t depth, std::vector<DepthBlock>* out) {
  if (depth > kMaxDepth || taps == 1) {
    for (int64_t t = 0; t < taps; ++t) SplitBlock(a_offset + t * tap_stride, b_row + t * depth, depth, out);
    return;
  }
  const int64_t per_block = std::max<int64_t>(1, kMaxDepth / std::max<int64_t>(depth, 1));
  const int64_t blocks = CeilDiv(taps, per_block);
  for (int64_t i = 0; i < blocks; ++i) {
    const int64_t begin = i * taps / blocks, end = (i + 1) * taps / blocks;
    out->push_back({a_offset + begin * tap_stride, b_row + begin * depth, depth, end - begin,
                    tap_stride});
  }
}

// Runs the blocks over one C tile: the first block sets C (with bias), the
// others add to it, the last applies `fused`.
template <typename A>
void GemmBlocks(const std::vector<DepthBlock>& blocks, int64_t rows, int64_t cols,
                const A* a, const int64_t* row_offset, const A* packed, int64_t packed_depth,
                A* c, int64_t ldc, const A* bias, gemm::Fused fused, A negative_slope) {
  constexpr int64_t kNr = gemm::Tile<A>::kNr;
  for (size_t i = 0; i < blocks.size(); ++i) {
    const DepthBlock& b = blocks[i];
    gemm::Epilogue<A> e;
    e.accumulate = i > 0;
    e.bias = i == 0 ? bias : nullptr;
    e.fused = i + 1 == blocks.size() ? fused : gemm::Fused::kNone;
    e.negative_slope = negative_slope;
    gemm::RowsOf<A> rows_of;
    rows_of.data = a + b.a_offset;
    rows_of.row_offset = row_offset;
    rows_of.taps = b.taps;
    rows_of.tap_stride = b.tap_stride;
    gemm::Gemm<A>(rows, cols, b.depth, rows_of, packed + b.b_row * kNr, kNr,
                  packed_depth * kNr, c, ldc, e);
  }
}

// The same blocks for gathered windows ([rows, K * Cin]): B row j is A
// column j there, so every block is one contiguous run, summed in the same
// order as the original (so both give identical results).
std::vector<DepthBlock> GatheredBlocks(const std::vector<DepthBlock>& blocks) {
  std::vector<DepthBlock> out;
  for (const DepthBlock& b : blocks) out.push_back({b.b_row, b.b_row, b.taps * b.depth});
  return out;
}

// Input gradient for few input channels (less than a register panel), where
// the phase form would waste most of each panel: cols = dz x filter^T, one
// row of K * Cin per output row, then added onto the input rows its taps
// read (output rows ascending, a fixed order). Tiles are runs of input rows; the
// few output rows two tiles share are computed by both.
template <typename T, typename A>
void BackpropInputByColumns(const Conv1DGeometry& g, const ActivationSpec& act,
                            const T* filter, const T* grad_output, const T* operand,
                            T* grad_input, const ParallelRunner& runner) {
  const int64_t cin = g.in_channels, cout = g.out_channels;
  const int64_t s = g.stride, d = g.dilation, pad = g.pad_left, kernel = g.kernel_size;
  const int64_t inner = kernel * cin;
  const int64_t in_item = g.in_steps * cin, out_item = g.out_steps * cout;
  const std::vector<A> packed = PackPanels<A>(
      cout, inner, [&](int64_t co, int64_t j) { return static_cast<A>(filter[j * cout + co]); });
  std::vector<DepthBlock> blocks;
  SplitBlock(0, 0, cout, &blocks);
  // Per input row about 1 / s output rows of cols and dz.
  const int64_t tile = TileRows<A>(CeilDiv((inner + cout) * sizeof(A), s) + cin * sizeof(A),
                                   g.in_steps, g.batch, 4096);
  const int64_t tiles_per_item = CeilDiv(g.in_steps, tile);
  const int64_t max_out_rows =
      std::min<int64_t>(g.out_steps, (tile - 1 + g.kernel_extent - 1) / s + 2);
  std::vector<int64_t> row_offset(max_out_rows);
  for (int64_t m = 0; m < max_out_rows; ++m) row_offset[m] = m * cout;
  const bool dz_is_dy = act.kind == Activation::kLinear && std::is_same_v<T, A> &&
                        g.layout == Layout::kNWC;

  runner.For(g.batch * tiles_per_item, 2 * CeilDiv(tile, s) * inner * cout + tile * inner,
             [&](int64_t begin, int64_t end) {
    std::vector<A> dz_scratch, cols, acc;
    for (int64_t unit = begin; unit < end; ++unit) {
      const int64_t n = unit / tiles_per_item;
      const int64_t i0 = (unit % tiles_per_item) * tile;
      const int64_t rows = std::min(tile, g.in_steps - i0);
      // Output rows reaching input rows [i0, i0 + rows).
      const int64_t o_lo = std::max<int64_t>(0, CeilDivSigned(i0 + pad - (kernel - 1) * d, s));
      const int64_t o_hi = std::min<int64_t>(g.out_steps, FloorDiv(i0 + rows - 1 + pad, s) + 1);
      const int64_t out_rows = std::max<int64_t>(0, o_hi - o_lo);
      if (out_rows > 0) {
        const A* dz = DzRows<T, A>(g, act, dz_is_dy, grad_output + n * out_item,
                                   operand + n * out_item, o_lo, out_rows, cout, &dz_scratch);
        cols.resize(out_rows * inner);
        GemmBlocks<A>(blocks, out_rows, inner, dz, row_offset.data(), packed.data(), cout,
                      cols.data(), inner, nullptr, gemm::Fused::kNone, A(0));
      }
      // Overlap-add: output row o adds tap k's columns to input row
      // o * s - pad + k * d, for the rows inside this tile.
      acc.assign(rows * cin, A(0));
      for (int64_t o = o_lo; o < o_hi; ++o) {
        const int64_t base = o * s - pad - i0;  // tile row of tap 0
        const A* src = cols.data() + (o - o_lo) * inner;
        if (d == 1) {  // the taps' rows are adjacent: one contiguous run
          const int64_t k_lo = std::max<int64_t>(0, -base);
          const int64_t k_hi = std::min<int64_t>(kernel, rows - base);
          A* dst = acc.data() + (base + k_lo) * cin;
          const A* run = src + k_lo * cin;
          for (int64_t j = 0; j < (k_hi - k_lo) * cin; ++j) dst[j] += run[j];
        } else {
          for (int64_t k = 0; k < kernel; ++k) {
            const int64_t row = base + k * d;
            if (row < 0 || row >= rows) continue;
            A* dst = acc.data() + row * cin;
            for (int64_t c = 0; c < cin; ++c) dst[c] += src[k * cin + c];
          }
        }
      }
      StoreRows<T, A>(acc.data(), cin, rows, cin, g.in_steps, g.layout, i0, 1,
                      grad_input + n * in_item);
    }
  });
}

// Winograd F(2,3) forward tiles (stride 1, dilation 1). The taps are taken
// in groups of three (a zero tap pads the last group of K = 3j + 2, whose
// U_3 is then zero: the GEMM of point 3 stops one group short); for each pair of output
// rows and each group, four input rows d0..d3 become
//   V = (d0 - d2, d1 + d2, d2 - d1, d1 - d3)
// and each tap triple w0..w2 of the filter
//   U = (w0, (w0 + w1 + w2) / 2, (w0 - w1 + w2) / 2, w2),
// so that with M_i = V_i x U_i (four GEMMs of depth groups x Cin)
//   y(2p) = M0 + M1 + M2,   y(2p + 1) = M1 - M2 - M3:
// 4 multiplications per group and pair of outputs instead of 6. The
// transforms only add, subtract and halve, so the rounding error stays that
// of the direct sum within a small factor. Where a term that the direct sum
// would multiply by zero is infinite (or a NaN), the transformed sums turn
// Inf - Inf into NaN where the direct sum has an Inf; and sums of huge
// values may overflow where the direct products do not. So a tile whose
// input holds a value beyond kWinogradBound, or any call whose filter does,
// runs the direct way.
template <typename A>
constexpr A kWinogradBound = A(0x1p500);  // double; float below
template <>
constexpr float kWinogradBound<float> = 0x1p60f;

constexpr int64_t kWinogradPoints = 4;

int64_t WinogradGroups(int64_t kernel_size) { return CeilDiv(kernel_size, 3); }

// Depth of the GEMM of each point: groups x Cin, one group less for point 3
// where the last group has a zero third tap.
int64_t WinogradDepth(const Conv1DGeometry& g, int64_t point) {
  const int64_t groups = WinogradGroups(g.kernel_size);
  return (point == 3 && g.kernel_size % 3 == 2 ? groups - 1 : groups) * g.in_channels;
}

// Worth it where groups turn 6 multiplications into 4 (K a multiple of 3),
// or a last group of two taps 4 into 3 (K = 5: 7 for 10; with that group's
// point 3 computed as well, 8 for 10, the transforms ate the gain). The transforms,
// a pass over Cin input and Cout output values per row, must stay small
// against the GEMMs: one core, K = 3, Winograd / direct was 0.6 at 32 -> 32
// channels, 1.0 at 64 -> 64, 1.1 to 1.16 at 64 -> 128 and 128 -> 64, 1.26
// at 128 -> 128 and 256 -> 256. The filter transform must stay small
// against the whole call: a batch-1 layer of 1024 steps lost 15%.
bool WinogradApplies(const Conv1DGeometry& g) {
  return g.stride == 1 && g.dilation == 1 && g.kernel_size >= 3 && g.kernel_size % 3 != 1 &&
         g.in_channels >= 64 && g.out_channels >= 64 &&
         g.in_channels * g.out_channels >= 8192 && g.batch * g.out_steps >= 4096 &&
         g.out_steps >= 8;
}

// Rows per Winograd tile: the slab, V (two depth rows per output row), M
// (two Cout rows) and the output within the tile budget, but at least 96
// rows, as shorter GEMMs lose more to their remainder rows.
template <typename A>
int64_t WinogradTileRows(const Conv1DGeometry& g) {
  const int64_t depth = WinogradGroups(g.kernel_size) * g.in_channels;
  const int64_t bytes_per_row = (g.in_channels + 2 * depth + 3 * g.out_channels) * sizeof(A);
  const int64_t rows = TileRows<A>(bytes_per_row, g.out_steps, g.batch, 288);
  return std::min(g.out_steps, std::max<int64_t>(rows, 96));
}

// Whether every element of x[0, count) lies within +-kWinogradBound (false
// for NaN).
template <typename A>
bool WithinWinogradBound(const A* x, int64_t count) {
  if (count == 0) return true;
  const Eigen::Map<const Eigen::Array<A, Eigen::Dynamic, 1>> values(x, count);
  return values.abs().template maxCoeff<Eigen::PropagateNaN>() <= kWinogradBound<A>;
}

// V_0..3 of `count` channels of one pair and group, from input rows d, d +
// ld, d + 2 ld, d + 3 ld (separate arguments so that the loop vectorizes).
template <typename A>
void TransformInputs(const A* __restrict d, int64_t ld, int64_t count, A* __restrict v0,
                     A* __restrict v1, A* __restrict v2, A* __restrict v3) {
  const A* __restrict d1 = d + ld;
  const A* __restrict d2 = d + 2 * ld;
  const A* __restrict d3 = d + 3 * ld;
  for (int64_t ch = 0; ch < count; ++ch) {
    v0[ch] = d[ch] - d2[ch];
    v1[ch] = d1[ch] + d2[ch];
    v2[ch] = d2[ch] - d1[ch];
    v3[ch] = d1[ch] - d3[ch];
  }
}

// The four transformed filters U_i, each packed for the GEMM as B with
// depth groups x Cin; empty where the filter holds a value beyond the bound.
// Taps 3j, 3j + 1 and 3j + 2 of every group j are packed first (zeros past
// the kernel), so that U is element-wise arithmetic on three packed arrays.
template <typename T, typename A>
std::vector<std::vector<A>> WinogradFilters(const Conv1DGeometry& g, const T* filter) {
  const int64_t cin = g.in_channels, cout = g.out_channels, k = g.kernel_size;
  for (int64_t i = 0; i < g.filter_elements(); ++i) {
    if (!(std::abs(static_cast<A>(filter[i])) <= kWinogradBound<A>)) return {};
  }
  std::vector<A> taps[3];
  for (int64_t j = 0; j < 3; ++j) {
    taps[j] = PackPanels<A>(WinogradGroups(k) * cin, cout, [&](int64_t q, int64_t co) {
      const int64_t tap = 3 * (q / cin) + j;
      return tap < k ? static_cast<A>(filter[(tap * cin + q % cin) * cout + co]) : A(0);
    });
  }
  const int64_t size = static_cast<int64_t>(taps[0].size());
  std::vector<std::vector<A>> u(kWinogradPoints, std::vector<A>(size));
  const A *w0 = taps[0].data(), *w1 = taps[1].data(), *w2 = taps[2].data();
  for (int64_t i = 0; i < size; ++i) {
    u[1][i] = (w0[i] + w1[i] + w2[i]) * A(0.5);
    u[2][i] = (w0[i] - w1[i] + w2[i]) * A(0.5);
  }
  u[0] = std::move(taps[0]);
  u[3] = std::move(taps[2]);
  return u;
}

// y0 = M0 + M1 + M2 + bias, y1 = M1 - M2 - M3 + bias (y1 null past the end
// of the item), with the activation K applied (the kind fixed at compile
// time, so that the loops vectorize).
template <Activation K, typename A>
void TransformOutputsAs(const ActivationSpec& act, const A* const* m, const A* bias,
                        int64_t cout, A* y0, A* y1) {
  ActivationSpec fixed = act;
  fixed.kind = K;
  const A *m0 = m[0], *m1 = m[1], *m2 = m[2], *m3 = m[3];
  for (int64_t co = 0; co < cout; ++co) {
    y0[co] = Activate<A>(fixed, m0[co] + m1[co] + m2[co] + bias[co]);
  }
  if (y1 == nullptr) return;
  for (int64_t co = 0; co < cout; ++co) {
    y1[co] = Activate<A>(fixed, m1[co] - m2[co] - m3[co] + bias[co]);
  }
}

// Scratch of one thread for WinogradTile.
template <typename A>
struct WinogradScratch {
  std::vector<A> slab, v, m;
  std::vector<int64_t> row_offset;
};

// Output rows [o0, o0 + rows) of one batch item (rows even unless they end
// the item) into c [rows, Cout]: conv + bias, then `fused` (relu, relu6,
// leaky_relu or none). False, with c untouched, where the input rows hold a
// value beyond the bound.
template <typename T, typename A>
bool WinogradTile(const Conv1DGeometry& g, const T* item, int64_t o0, int64_t rows,
                  const std::vector<std::vector<A>>& u,
                  const std::vector<std::vector<DepthBlock>>& blocks, const A* bias,
                  const ActivationSpec& fused, A* c, WinogradScratch<A>* s) {
  const int64_t cin = g.in_channels, cout = g.out_channels;
  const int64_t groups = WinogradGroups(g.kernel_size), depth = groups * cin;
  const int64_t pairs = CeilDiv(rows, 2);
  // Pair p, group j reads slab rows 2p + 3j + (0..3).
  const int64_t count = 2 * pairs + 3 * groups - 1;
  const A* slab = Slab<T, A>(g, item, g.in_steps, cin, o0 - g.pad_left, count, &s->slab);
  if (!WithinWinogradBound(slab, count * cin)) return false;
  s->v.resize(kWinogradPoints * pairs * depth);
  A* v[kWinogradPoints];
  for (int64_t i = 0; i < kWinogradPoints; ++i) v[i] = s->v.data() + i * pairs * depth;
  for (int64_t p = 0; p < pairs; ++p) {
    for (int64_t j = 0; j < groups; ++j) {
      const int64_t at = p * depth + j * cin;
      TransformInputs(slab + (2 * p + 3 * j) * cin, cin, cin, v[0] + at, v[1] + at, v[2] + at,
                      v[3] + at);
    }
  }
  s->row_offset.resize(pairs);
  for (int64_t p = 0; p < pairs; ++p) s->row_offset[p] = p * depth;
  s->m.resize(kWinogradPoints * pairs * cout);
  const A* m[kWinogradPoints];
  for (int64_t i = 0; i < kWinogradPoints; ++i) {
    A* mi = s->m.data() + i * pairs * cout;
    GemmBlocks<A>(blocks[i], pairs, cout, v[i], s->row_offset.data(), u[i].data(), depth, mi,
                  cout, nullptr, gemm::Fused::kNone, A(0));
    m[i] = mi;
  }
  const auto transform = [&](auto kind) {
    for (int64_t p = 0; p < pairs; ++p) {
      const A* mp[kWinogradPoints] = {m[0] + p * cout, m[1] + p * cout, m[2] + p * cout,
                                      m[3] + p * cout};
      A* y0 = c + 2 * p * cout;
      TransformOutputsAs<decltype(kind)::value, A>(fused, mp, bias, cout, y0,
                                                   2 * p + 1 < rows ? y0 + cout : nullptr);
    }
  };
  switch (fused.kind) {
    case Activation::kRelu:
      transform(std::integral_constant<Activation, Activation::kRelu>());
      break;
    case Activation::kRelu6:
      transform(std::integral_constant<Activation, Activation::kRelu6>());
      break;
    case Activation::kLeakyRelu:
      transform(std::integral_constant<Activation, Activation::kLeakyRelu>());
      break;
    default:
      transform(std::integral_constant<Activation, Activation::kLinear>());
  }
  return true;
}

// With stride 1 and no dilation the input gradient is a forward
// convolution: dz, padded by K - 1 - pad_left steps on the left, with the
// filter flipped and transposed. Where that convolution qualifies for the
// Winograd tiles, it runs as one (the phase form below would be a direct
// one); false otherwise, with nothing done. Float and double only, as dz
// goes through a T buffer.
template <typename T>
bool BackpropInputAsForward(const Conv1DGeometry& g, const ActivationSpec& act,
                            const T* filter, const T* grad_output, const T* operand,
                            T* grad_input, const ParallelRunner& runner) {
  if (g.stride != 1 || g.dilation != 1) return false;
  Conv1DGeometry f = g;
  f.in_steps = g.out_steps;
  f.in_channels = g.out_channels;
  f.out_channels = g.in_channels;
  f.out_steps = g.in_steps;
  f.pad_left = g.kernel_extent - 1 - g.pad_left;
  if (!WinogradApplies(f)) return false;
  const int64_t k = g.kernel_size, cin = g.in_channels, cout = g.out_channels;
  std::vector<T> flipped(g.filter_elements());
  for (int64_t j = 0; j < k; ++j) {
    for (int64_t ci = 0; ci < cin; ++ci) {
      for (int64_t co = 0; co < cout; ++co) {
        flipped[(j * cout + co) * cin + ci] = filter[((k - 1 - j) * cin + ci) * cout + co];
      }
    }
  }
  // dz = dy * activation'(operand), element-wise in either layout, in
  // fixed chunks (results do not depend on the threads).
  const T* dz = grad_output;
  std::vector<T> dz_buffer;
  if (act.kind != Activation::kLinear) {
    constexpr int64_t kChunk = 1 << 16;
    const int64_t total = g.output_elements();
    dz_buffer.resize(total);
    runner.For(CeilDiv(total, kChunk), 4 * kChunk, [&](int64_t begin, int64_t end) {
      for (int64_t i = begin; i < end; ++i) {
        const int64_t first = i * kChunk, count = std::min(kChunk, total - first);
        ActivationGradRow<T, T>(act, grad_output + first, operand + first, count,
                                std::integral_constant<int64_t, 1>(), dz_buffer.data() + first);
      }
    });
    dz = dz_buffer.data();
  }
  FusedConv1DForwardCpu<T>(f, ActivationSpec(), dz, flipped.data(), nullptr, grad_input, nullptr,
                           runner);
  return true;
}

}  // namespace

template <typename T>
void FusedConv1DForwardCpu(const Conv1DGeometry& g, const ActivationSpec& act,
                           const T* input, const T* filter, const T* bias,
                           T* output, T* preactivation,
                           const ParallelRunner& runner) {
  using A = typename AccumulatorOf<T>::type;
  if (g.output_elements() == 0) return;
  const int64_t cin = g.in_channels, cout = g.out_channels, s = g.stride;
  const int64_t inner = g.kernel_size * cin;
  const int64_t in_item = g.in_steps * cin, out_item = g.out_steps * cout;
  PreferHugePages(output, g.output_elements() * sizeof(T));
  PreferHugePages(preactivation, preactivation ? g.output_elements() * sizeof(T) : 0);
  const bool winograd = WinogradApplies(g);
  const std::vector<std::vector<A>> winograd_u =
      winograd ? WinogradFilters<T, A>(g, filter) : std::vector<std::vector<A>>();
  // The filter as the direct tiles read it: with Winograd, only packed if a
  // tile needs it.
  std::vector<A> packed;
  std::once_flag packed_once;
  const auto direct_filter = [&]() {
    std::call_once(packed_once, [&] {
      packed = PackPanels<A>(inner, cout, [&](int64_t k, int64_t n) {
        return static_cast<A>(filter[k * cout + n]);
      });
    });
    return packed.data();
  };
  std::vector<A> bias_padded(gemm::Panels<A>(cout) * gemm::Tile<A>::kNr, A(0));
  for (int64_t c = 0; c < cout && bias != nullptr; ++c) bias_padded[c] = static_cast<A>(bias[c]);

  const int64_t tile = winograd ? WinogradTileRows<A>(g)
                                : TileRows<A>((s * cin + cout) * sizeof(A), g.out_steps, g.batch, 288);
  const int64_t tiles_per_item = CeilDiv(g.out_steps, tile);
  // Adjacent taps make one window row; dilated ones runs dilation * Cin apart
  // in the slab (whose offsets are only formed where a slab can be used).
  std::vector<DepthBlock> blocks;
  if (g.dilation == 1 || g.kernel_size == 1) {
    SplitBlock(0, 0, inner, &blocks);
  } else {
    const bool slab_possible = SlabPossible(g, tile);
    TapBlocks(0, slab_possible ? g.dilation * cin : 0, 0, g.kernel_size, cin, &blocks);
  }
  const std::vector<DepthBlock> gathered_blocks = GatheredBlocks(blocks);
  const bool fuse = IsFusable(act) && preactivation == nullptr;
  const gemm::Fused fused = fuse ? FusedActivation(act) : gemm::Fused::kNone;
  const bool in_place = std::is_same_v<T, A> && g.layout == Layout::kNWC;
  std::vector<std::vector<DepthBlock>> winograd_blocks(kWinogradPoints);
  for (int64_t i = 0; i < kWinogradPoints; ++i) {
    SplitBlock(0, 0, WinogradDepth(g, i), &winograd_blocks[i]);
  }

  runner.For(g.batch * tiles_per_item, 2 * tile * inner * cout,
             [&](int64_t begin, int64_t end) {
    std::vector<A> window_scratch, acc;
    std::vector<int64_t> row_offset(tile);
    WinogradScratch<A> winograd_scratch;
    for (int64_t unit = begin; unit < end; ++unit) {
      const int64_t n = unit / tiles_per_item;
      const int64_t o0 = (unit % tiles_per_item) * tile;
      const int64_t rows = std::min(tile, g.out_steps - o0);
      A* c;
      if constexpr (std::is_same_v<T, A>) {
        c = in_place ? output + n * out_item + o0 * cout : nullptr;
      }
      if (!in_place) {
        acc.resize(rows * cout);
        c = acc.data();
      }
      if (winograd_u.empty() ||
          !WinogradTile<T, A>(g, input + n * in_item, o0, rows, winograd_u, winograd_blocks,
                              bias_padded.data(), fuse ? act : ActivationSpec(), c,
                              &winograd_scratch)) {
        const Windows<A> w =
            TileWindows<T, A>(g, input + n * in_item, o0, rows, &window_scratch);
        for (int64_t r = 0; r < rows; ++r) row_offset[r] = r * w.row_pitch;
        GemmBlocks<A>(w.gathered ? gathered_blocks : blocks, rows, cout, w.data,
                      row_offset.data(), direct_filter(), inner, c, cout, bias_padded.data(),
                      fused, static_cast<A>(act.negative_slope));
      }
      if (!fuse) {
        if (preactivation != nullptr) {
          StoreRows<T, A>(c, cout, rows, cout, g.out_steps, g.layout, o0, 1,
                          preactivation + n * out_item);
        }
        ActivateRows<A>(act, c, rows, cout, cout);
      }
      if (!in_place) {
        StoreRows<T, A>(c, cout, rows, cout, g.out_steps, g.layout, o0, 1, output + n * out_item);
      }
    }
  });
}

template <typename T>
void FusedConv1DBackpropInputCpu(const Conv1DGeometry& g,
                                 const ActivationSpec& act, const T* filter,
                                 const T* grad_output, const T* operand,
                                 T* grad_input, const ParallelRunner& runner) {
  using A = typename AccumulatorOf<T>::type;
  if (g.input_elements() == 0) return;
  if constexpr (std::is_same_v<T, A>) {
    if (BackpropInputAsForward(g, act, filter, grad_output, operand, grad_input, runner)) {
      return;
    }
  }
  const int64_t cin = g.in_channels, cout = g.out_channels;
  const int64_t s = g.stride, d = g.dilation, pad = g.pad_left;
  const int64_t in_item = g.in_steps * cin, out_item = g.out_steps * cout;
  PreferHugePages(grad_input, g.input_elements() * sizeof(T));
  // Fewer input channels than a register panel holds: the column form
  // fills its panels with K * Cin columns instead.
  constexpr int64_t kNr = gemm::Tile<A>::kNr;
  const auto panel_use = [](int64_t cols) {
    return static_cast<double>(cols) / static_cast<double>(RoundUp(cols, kNr));
  };
  // The phase form reads a run of (K - 1) d / s + R dz rows per tile; the
  // column form (bounded by one item's output rows) when that run would
  // exceed a whole item: dilations much larger than the output.
  const bool sparse = (g.kernel_size - 1) * (d / s) > g.out_steps;
  if (sparse || (cin < kNr && panel_use(g.kernel_size * cin) > panel_use(cin))) {
    BackpropInputByColumns<T, A>(g, act, filter, grad_output, operand, grad_input, runner);
    return;
  }

  // Input row i sits at p = i + pad_left; tap k carries dz row (p - k d) / s
  // to it when that is whole. Per residue r = p mod s that has taps (at most
  // K of the s): its taps, ordered by q = (r - k d) / s ascending, so that
  // output row m / s + q of a tile is the q-shifted run of dz rows; and those
  // taps' transposed filters. Rows of the other residues get zeros.
  struct Phase {
    int64_t residue = 0;
    std::vector<DepthBlock> blocks;
    std::vector<A> packed;  // [taps * Cout, Cin] in panels
    int64_t depth = 0;
  };
  std::vector<int64_t> residues;
  for (int64_t k = 0; k < g.kernel_size; ++k) residues.push_back((k * d) % s);
  std::sort(residues.begin(), residues.end());
  residues.erase(std::unique(residues.begin(), residues.end()), residues.end());
  std::vector<Phase> phases(residues.size());
  int64_t q_min = 0;
  for (size_t i = 0; i < residues.size(); ++i) {
    Phase& ph = phases[i];
    const int64_t r = ph.residue = residues[i];
    std::vector<int64_t> taps;
    for (int64_t k = g.kernel_size - 1; k >= 0; --k) {
      if ((k * d) % s == r) taps.push_back(k);
    }
    ph.depth = static_cast<int64_t>(taps.size()) * cout;
    ph.packed = PackPanels<A>(ph.depth, cin, [&](int64_t k, int64_t n) {
      return static_cast<A>(filter[(taps[k / cout] * cin + n) * cout + k % cout]);
    });
    // A phase's taps are equally spaced (s / gcd(s, d) apart), so their dz
    // runs are too: one run of adjacent rows, or taps spaced further.
    const int64_t q0 = (r - taps[0] * d) / s;
    const int64_t spacing = taps.size() > 1 ? (taps[0] - taps[1]) * d / s : 1;
    q_min = std::min(q_min, q0);
    if (spacing == 1) {
      SplitBlock(q0 * cout, 0, ph.depth, &ph.blocks);
    } else {
      TapBlocks(q0 * cout, spacing * cout, 0, static_cast<int64_t>(taps.size()), cout,
                &ph.blocks);
    }
  }
  // dz rows a tile of R rows per phase reads: [t R + q_min, t R + R).
  const int64_t max_rows = CeilDiv(g.in_steps + pad, s);
  const int64_t tile = TileRows<A>((cout + s * cin) * sizeof(A), max_rows, g.batch, 288);
  const int64_t tile_first = pad / (tile * s), tile_end = CeilDiv(pad + g.in_steps, tile * s);
  const int64_t tiles_per_item = tile_end - tile_first;
  std::vector<int64_t> row_offset(tile);
  for (int64_t m = 0; m < tile; ++m) row_offset[m] = m * cout;
  const bool in_place = std::is_same_v<T, A> && g.layout == Layout::kNWC;
  const bool dz_is_dy = act.kind == Activation::kLinear && in_place;

  runner.For(g.batch * tiles_per_item, 2 * tile * g.kernel_size * cout * cin + 1,
             [&](int64_t begin, int64_t end) {
    std::vector<A> dz_scratch, acc;
    for (int64_t unit = begin; unit < end; ++unit) {
      const int64_t n = unit / tiles_per_item;
      const int64_t t = tile_first + unit % tiles_per_item;
      const int64_t dz_first = t * tile + q_min, dz_count = tile - q_min;
      const T* dy_item = grad_output + n * out_item;
      const A* dz = DzRows<T, A>(g, act, dz_is_dy, dy_item, operand + n * out_item, dz_first,
                                 dz_count, cout, &dz_scratch);
      const A* dz_rows = dz - q_min * cout;  // row m of the tile
      size_t next_phase = 0;
      for (int64_t r = 0; r < s; ++r) {
        const Phase* ph = nullptr;
        if (next_phase < phases.size() && phases[next_phase].residue == r) {
          ph = &phases[next_phase++];
        }
        const int64_t p0 = t * tile * s + r;  // p of the tile's row 0 in this phase
        const int64_t m_lo = std::max<int64_t>(0, CeilDivSigned(pad - p0, s));
        const int64_t m_hi = std::min<int64_t>(tile, CeilDivSigned(pad + g.in_steps - p0, s));
        if (m_hi <= m_lo) continue;
        const int64_t rows = m_hi - m_lo;
        const int64_t i_first = p0 + m_lo * s - pad;
        A* c;
        int64_t ldc;
        if constexpr (std::is_same_v<T, A>) {
          c = grad_input + n * in_item + i_first * cin;
          ldc = s * cin;
        }
        if (!in_place) {
          acc.resize(rows * cin);
          c = acc.data();
          ldc = cin;
        }
        if (ph == nullptr) {
          for (int64_t m = 0; m < rows; ++m) std::fill(c + m * ldc, c + m * ldc + cin, A(0));
        } else {
          GemmBlocks<A>(ph->blocks, rows, cin, dz_rows, row_offset.data() + m_lo,
                        ph->packed.data(), ph->depth, c, ldc, nullptr, gemm::Fused::kNone, A(0));
        }
        if (!in_place) {
          StoreRows<T, A>(c, cin, rows, cin, g.in_steps, g.layout, i_first, s,
                          grad_input + n * in_item);
        }
      }
    }
  });
}

// The filter gradient's A operand: kernel row i (a (tap, channel) pair) of
// window k, read down the steps. In place, a row's values of successive k
// lie a row pitch apart; a pitch that is a multiple of 1 KiB (256 float
// channels) maps a tile's k onto 4 of the 64 L1 sets, so the kernel's reads
// come from L2. There, when Cout is large enough to pay for the copy (one
// element per Cout FMAs), the windows are packed per block of kMr rows into
// [tile][kMr] runs that the kernel reads in order. (Measured: at a 1 KiB
// pitch packing gains ~30%; at 512 bytes it loses; docs/performance.md.)
template <typename A>
class PackedWindows {
 public:
  PackedWindows(int64_t inner, int64_t tile, const std::vector<int64_t>& slab_offset,
                const std::vector<int64_t>& gathered_offset)
      : inner_(inner), tile_(tile), slab_offset_(slab_offset),
        gathered_offset_(gathered_offset), packed_offset_(inner) {
    for (int64_t i = 0; i < inner; ++i) {
      packed_offset_[i] = (i / kMr) * tile * kMr + i % kMr;
    }
  }

  // The operand for the windows w of `rows` steps; packs into *scratch when
  // that pays.
  gemm::RowsOf<A> Operand(const Windows<A>& w, int64_t rows, int64_t cout,
                          std::vector<A>* scratch) const {
    const std::vector<int64_t>& offset = w.gathered ? gathered_offset_ : slab_offset_;
    gemm::RowsOf<A> a;
    const int64_t pitch_bytes = w.row_pitch * static_cast<int64_t>(sizeof(A));
    if (pitch_bytes % 1024 != 0 || cout < 128) {
      a.data = w.data;
      a.row_offset = offset.data();
      a.k_stride = w.row_pitch;
      return a;
    }
    scratch->resize(CeilDiv(inner_, kMr) * tile_ * kMr);
    for (int64_t k = 0; k < rows; ++k) {
      const A* window = w.data + k * w.row_pitch;
      for (int64_t b0 = 0; b0 < inner_; b0 += kMr) {
        A* run = scratch->data() + b0 * tile_ + k * kMr;
        const int64_t count = std::min(kMr, inner_ - b0);
        if (count == kMr && offset[b0 + kMr - 1] - offset[b0] == kMr - 1) {
          std::copy_n(window + offset[b0], kMr, run);  // one tap's adjacent channels
        } else {
          for (int64_t j = 0; j < count; ++j) run[j] = window[offset[b0 + j]];
        }
      }
    }
    a.data = scratch->data();
    a.row_offset = packed_offset_.data();
    a.k_stride = kMr;
    return a;
  }

 private:
  static constexpr int64_t kMr = gemm::Tile<A>::kMr;
  const int64_t inner_, tile_;
  const std::vector<int64_t>& slab_offset_;
  const std::vector<int64_t>& gathered_offset_;
  std::vector<int64_t> packed_offset_;
};

template <typename T>
void FusedConv1DBackpropFilterCpu(const Conv1DGeometry& g,
                                  const ActivationSpec& act, const T* input,
                                  const T* grad_output, const T* operand,
                                  T* grad_filter, T* grad_bias,
                                  const ParallelRunner& runner) {
  using A = typename AccumulatorOf<T>::type;
  constexpr int64_t kNr = gemm::Tile<A>::kNr;
  const int64_t cin = g.in_channels, cout = g.out_channels, s = g.stride;
  const int64_t inner = g.kernel_size * cin;
  const int64_t cout_padded = gemm::Panels<A>(cout) * kNr;
  const int64_t in_item = g.in_steps * cin, out_item = g.out_steps * cout;
  // Rows per tile = the depth of one gemm call: its dz panel stays in L1.
  // Deep calls matter more here than many tiles (C is read and written per
  // call), so small batches get 8 tiles rather than 16.
  const int64_t tile = TileRows<A>(s * cin * sizeof(A), std::max<int64_t>(g.out_steps, 1),
                                   g.batch, 256, kMinUnits / 2);
  const int64_t tiles_per_item = CeilDiv(g.out_steps, tile);
  const int64_t units = g.batch * tiles_per_item;

  // Partial sums [inner, cout_padded] + bias [cout_padded]: as many as useful
  // for load balance, within 64 MiB; the count depends on the problem only.
  const int64_t partial_size = (inner + 1) * cout_padded;
  const int64_t memory_cap = std::max<int64_t>(
      1, (64 << 20) / (partial_size * static_cast<int64_t>(sizeof(A))));
  const int64_t groups = std::max<int64_t>(1, std::min<int64_t>({units, 16, memory_cap}));
  std::vector<A> partials(groups * partial_size, A(0));

  // Kernel row i = (tap, channel) of the windows (see TileWindows), read
  // down the steps.
  std::vector<int64_t> slab_offset(inner), gathered_offset(inner);
  const bool slab_possible = SlabPossible(g, tile);
  for (int64_t i = 0; i < inner; ++i) {
    slab_offset[i] = slab_possible ? (i / cin) * g.dilation * cin + i % cin : 0;
    gathered_offset[i] = i;
  }
  const PackedWindows<A> packing(inner, tile, slab_offset, gathered_offset);
  const bool dz_is_dy = act.kind == Activation::kLinear && std::is_same_v<T, A> &&
                        g.layout == Layout::kNWC && cout == cout_padded;

  runner.For(groups, 2 * CeilDiv(units, groups) * tile * inner * cout,
             [&](int64_t begin, int64_t end) {
    std::vector<A> slab_scratch, dz_scratch, dz_panels, windows_packed;
    for (int64_t group = begin; group < end; ++group) {
      A* dw = partials.data() + group * partial_size;
      A* db = dw + inner * cout_padded;
      const int64_t first = group * units / groups, last = (group + 1) * units / groups;
      for (int64_t unit = first; unit < last; ++unit) {
        const int64_t n = unit / tiles_per_item;
        const int64_t o0 = (unit % tiles_per_item) * tile;
        const int64_t rows = std::min(tile, g.out_steps - o0);
        // (dz_is_dy implies Cout == cout_padded.)
        const A* dz = DzRows<T, A>(g, act, dz_is_dy, grad_output + n * out_item,
                                   operand + n * out_item, o0, rows, cout_padded, &dz_scratch);
        for (int64_t r = 0; r < rows; ++r) {
          for (int64_t c = 0; c < cout; ++c) db[c] += dz[r * cout_padded + c];
        }
        const Windows<A> w = TileWindows<T, A>(g, input + n * in_item, o0, rows, &slab_scratch);
        // dz in the kernel's panel layout: a panel's rows are contiguous, so
        // it stays in L1 whatever Cout is (rows cout_padded apart would map
        // onto few L1 sets when that is a power of two).
        const int64_t panels = cout_padded / kNr;
        dz_panels.resize(panels * rows * kNr);
        for (int64_t r = 0; r < rows; ++r) {
          for (int64_t p = 0; p < panels; ++p) {
            const A* src = dz + r * cout_padded + p * kNr;
            std::copy(src, src + kNr, dz_panels.data() + (p * rows + r) * kNr);
          }
        }
        gemm::Epilogue<A> e;
        e.accumulate = true;
        const gemm::RowsOf<A> columns = packing.Operand(w, rows, cout, &windows_packed);
        gemm::Gemm<A>(inner, cout, rows, columns, dz_panels.data(), kNr, rows * kNr, dw,
                      cout_padded, e);
      }
    }
  });

  // Add the partials in group order, in parallel over filter elements.
  runner.For(partial_size, 2 * groups, [&](int64_t begin, int64_t end) {
    for (int64_t e = begin; e < end; ++e) {
      const int64_t i = e / cout_padded, c = e % cout_padded;
      if (c >= cout) continue;
      A sum = A(0);
      for (int64_t group = 0; group < groups; ++group) sum += partials[group * partial_size + e];
      if (i < inner) {
        grad_filter[i * cout + c] = static_cast<T>(sum);
      } else {
        grad_bias[c] = static_cast<T>(sum);
      }
    }
  });
}

#define CONV1D_INSTANTIATE(T)                                                 \
  template void FusedConv1DForwardCpu<T>(                                     \
      const Conv1DGeometry&, const ActivationSpec&, const T*, const T*,       \
      const T*, T*, T*, const ParallelRunner&);                               \
  template void FusedConv1DBackpropInputCpu<T>(                               \
      const Conv1DGeometry&, const ActivationSpec&, const T*, const T*,       \
      const T*, T*, const ParallelRunner&);                                   \
  template void FusedConv1DBackpropFilterCpu<T>(                              \
      const Conv1DGeometry&, const ActivationSpec&, const T*, const T*,       \
      const T*, T*, T*, const ParallelRunner&);

CONV1D_INSTANTIATE(Eigen::half)
CONV1D_INSTANTIATE(Eigen::bfloat16)
CONV1D_INSTANTIATE(float)
CONV1D_INSTANTIATE(double)
#undef CONV1D_INSTANTIATE

}  // namespace conv1d
