// Building blocks of the CPU passes (conv1d_cpu.cc): tile sizes, slabs of
// input steps read in place or copied, dz rows, stores in either layout,
// activations over tiles, the GEMM's packed operands and depth blocks.
// Private to the core: included by its passes only, in their level's
// namespace (cpu_level.h).
#ifndef TF_CONV1D_OP_CORE_CPU_TILES_H_
#define TF_CONV1D_OP_CORE_CPU_TILES_H_

#include <algorithm>
#include <cstdint>
#include <cstring>
#include <type_traits>
#include <vector>

#include "cc/kernels/core/activation_arrays.h"
#include "cc/kernels/core/activations.h"
#include "cc/kernels/core/conv1d_geometry.h"
#include "cc/kernels/core/float_conversions.h"
#include "cc/kernels/core/gemm_kernel.h"
#include "cc/kernels/core/int_division.h"

namespace conv1d {
inline namespace TF_CONV1D_LEVEL_NAMESPACE {
namespace cpu_tiles {

// Accumulate half and bfloat16 in float, float in float, double in double.
template <typename T>
struct AccumulatorOf { using type = float; };
template <>
struct AccumulatorOf<double> { using type = double; };

// Depth of one gemm call at most: a B panel of this depth (x kNr columns)
// stays in L1 while the rows of a tile stream past it.
constexpr int64_t kMaxDepth = 320;
// Working set of one tile (slab + output tile), within the L2 of a core.
constexpr int64_t kTileBytes = 192 * 1024;
// Tiles a pass should have at least, where the rows allow, so that any
// number of threads up to this gets an even share.
constexpr int64_t kMinUnits = 16;

// Rows per tile for `bytes_per_row` of working set, at most max_rows, a
// multiple of the register tile's rows (the GEMM's kMr unless told), and
// small enough for min_units tiles.
template <typename A>
int64_t TileRows(int64_t bytes_per_row, int64_t max_rows, int64_t batch, int64_t cap,
                 int64_t min_units = kMinUnits, int64_t register_rows = gemm::Tile<A>::kMr) {
  int64_t rows = kTileBytes / std::max<int64_t>(1, bytes_per_row);
  rows = std::min(std::max(rows, 4 * register_rows), cap);
  if (batch < min_units) {
    const int64_t per_item = CeilDiv(min_units, std::max<int64_t>(batch, 1));
    rows = std::min(rows, std::max(2 * register_rows, CeilDiv(max_rows, per_item)));
  }
  rows = RoundUp(rows, register_rows);
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
  if (g.layout == Layout::kNWC) {
    // Zeros for the rows outside the input; those inside are one run,
    // converted at once (a row of one channel would be all tail). A hostile
    // padding can put `first` far below zero, hence the checked subtraction.
    int64_t rows_to_end;
    if (__builtin_sub_overflow(steps, first, &rows_to_end)) rows_to_end = count;
    const int64_t inside_from = first >= 0 ? 0 : std::min(count, -first);
    const int64_t inside_to = std::clamp<int64_t>(rows_to_end, inside_from, count);
    std::fill(dst, dst + inside_from * channels, A(0));
    if (inside_to > inside_from) {
      ConvertValues(item + (first + inside_from) * channels,
                    (inside_to - inside_from) * channels, dst + inside_from * channels);
    }
    std::fill(dst + inside_to * channels, dst + count * channels, A(0));
    return dst;
  }
  const int64_t channel_stride = g.channel_stride(steps);
  for (int64_t r = 0; r < count; ++r) {
    const int64_t i = first + r;
    A* row = dst + r * channels;
    if (i < 0 || i >= steps) {
      std::fill(row, row + channels, A(0));
    } else {
      const T* src = item + i;  // NCW: step i of channel c at c * channel_stride
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
inline bool SlabPossible(const Conv1DGeometry& g, int64_t tile) {
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

// The form of a group's windows for a tile (GroupWindows fills them):
// a slab where the tile's windows are one, gathered windows where they are
// gathered or sparse in their slab (TileWindows leaves a sparse slab in
// place; a copy of it would hold far more than the GEMM reads).
template <typename A>
Windows<A> GroupForm(const Conv1DGeometry& g, const Windows<A>& w, int64_t rows) {
  const int64_t cin_g = g.group_in_channels(), k = g.kernel_size;
  const bool gathered = w.gathered || (rows - 1) * g.stride + g.kernel_extent > rows * k;
  return gathered ? Windows<A>{nullptr, k * cin_g, cin_g, true}
                  : Windows<A>{nullptr, g.stride * cin_g, g.dilation * cin_g, false};
}

// Group j's channels of a tile's windows `w` (TileWindows of `rows` rows),
// copied into a matrix of their own in the form GroupForm gave. Read in
// place, a register tile's rows lie Cin apart, and the GEMM ran at two
// thirds of its speed over the copy (grouped TCN, 32 of 256 channels per
// group, Zen 4: docs/performance.md); likely L1 set conflicts, which the
// filter gradient's packed windows avoid too. The copy is one pass over the
// tile's input, against K x cout_g multiply-adds per element.
template <typename A>
const A* GroupWindows(const Conv1DGeometry& g, const Windows<A>& w, const Windows<A>& form,
                      int64_t rows, int64_t j, std::vector<A>* scratch) {
  const int64_t cin = g.in_channels, cin_g = g.group_in_channels(), k = g.kernel_size;
  const A* from = w.data + j * cin_g;
  if (form.gathered) {
    scratch->resize(rows * k * cin_g);
    for (int64_t r = 0; r < rows && cin_g > 0; ++r) {
      for (int64_t t = 0; t < k; ++t) {
        std::copy_n(from + r * w.row_pitch + t * w.tap_pitch, cin_g,
                    scratch->data() + (r * k + t) * cin_g);
      }
    }
  } else {
    const int64_t lines = (rows - 1) * g.stride + g.kernel_extent;
    scratch->resize(lines * cin_g);
    for (int64_t line = 0; line < lines && cin_g > 0; ++line) {
      std::copy_n(from + line * cin, cin_g, scratch->data() + line * cin_g);
    }
  }
  return scratch->data();
}

// Stride of ActivationGradRow for NWC rows: a compile-time 1, since GCC only
// vectorizes the loops as such.
using UnitStride = std::integral_constant<int64_t, 1>;

// ActivationGradRow on the values as they are: the array forms where T is A
// and the derivative has one, else a loop per activation, its kind a
// constant, so that the derivative's switch folds away and the loop
// vectorizes (relu6's, with the switch in it, took 3.5 ns per element: its
// input gradient was 6x the linear one's on the Conformer shape).
template <typename T, typename A, typename Stride>
void ActivationGradRowAsIs(const ActivationSpec& act, const T* dy, const T* operand,
                           int64_t count, Stride stride, A* dz) {
  constexpr bool kArraysApply = std::is_same_v<T, A> && std::is_same_v<Stride, UnitStride>;
  if constexpr (kArraysApply) {
    if (ActivationGradValues<A>(act, dy, operand, count, dz)) return;
  }
  WithActivation(act.kind, [&](auto kind) {
    constexpr Activation kKind = decltype(kind)::value;
    // No loop is compiled for what the array forms took above.
    if constexpr (!(kArraysApply && arrays::HasDerivativeArrayForm<A>(kKind))) {
      ActivationSpec fixed = act;
      fixed.kind = kKind;
      for (int64_t c = 0; c < count; ++c) {
        const A g = static_cast<A>(dy[c * stride]);
        if constexpr (kKind == Activation::kLinear) {
          dz[c] = g;  // the operand unread: a linear layer's may be absent
        } else {
          dz[c] = g * ActivationDerivative<A>(fixed, static_cast<A>(operand[c * stride]));
        }
      }
    }
  });
}

// dz = dy * activation'(operand) over `count` elements `stride` apart (Stride:
// UnitStride for NWC rows, int64_t for NCW ones).
template <typename T, typename A, typename Stride>
void ActivationGradRow(const ActivationSpec& act, const T* dy, const T* operand,
                       int64_t count, Stride stride, A* dz) {
  constexpr bool kUnit = std::is_same_v<Stride, UnitStride>;
  // The loops of ActivationGradRowAsIs vectorize for float and double rows,
  // and for bfloat16 rows (a shift of the bits widens them) where the
  // derivative takes no array form.
  const bool as_is = kUnit && (std::is_same_v<T, A> ||
                               (std::is_same_v<T, Eigen::bfloat16> &&
                                !arrays::HasDerivativeArrayForm<A>(act.kind)));
  if (as_is) {
    ActivationGradRowAsIs(act, dy, operand, count, stride, dz);
    return;
  }
  // The rest (NCW steps, half values, bfloat16 through the array forms):
  // gathered and widened to A a chunk at a time, to meet the unit-stride
  // loops. Left as they are, GCC keeps half's loops scalar, and relu's
  // comparison becomes a branch that mispredicts on every other random
  // sign (the float16 sensor shape's input gradient spent 65% of its time
  // there, 4.7x the float one's).
  alignas(64) A g[arrays::kChunk];
  alignas(64) A v[arrays::kChunk];
  const bool reads_operand = act.kind != Activation::kLinear;
  for (int64_t begin = 0; begin < count; begin += arrays::kChunk) {
    const int64_t n = std::min(arrays::kChunk, count - begin);
    if constexpr (kUnit) {
      ConvertValues(dy + begin, n, g);
      if (reads_operand) ConvertValues(operand + begin, n, v);
    } else {
      for (int64_t c = 0; c < n; ++c) g[c] = static_cast<A>(dy[(begin + c) * stride]);
      for (int64_t c = 0; c < n && reads_operand; ++c) {
        v[c] = static_cast<A>(operand[(begin + c) * stride]);
      }
    }
    ActivationGradRowAsIs<A, A>(act, g, v, n, UnitStride(), dz + begin);
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
                              UnitStride(), row);
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
      ConvertValues(tile + r * ld, channels, dst);
    }
  } else {
    for (int64_t c = 0; c < channels; ++c) {
      T* dst = item + c * steps + first;
      for (int64_t r = 0; r < rows; ++r) dst[r * row_step] = static_cast<T>(tile[r * ld + c]);
    }
  }
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
  if (act.kind == Activation::kLinear) return;
  if (arrays::HasArrayForm<A>(act.kind)) {
    for (int64_t r = 0; r < rows; ++r) ActivateValues<A>(act, tile + r * ld, cols);
    return;
  }
  // The rest (the clamps, hard_sigmoid): a loop per activation, its kind a
  // constant, so that the formula's switch folds away and it vectorizes.
  WithActivation(act.kind, [&](auto kind) {
    constexpr Activation kKind = decltype(kind)::value;
    if constexpr (!arrays::HasArrayForm<A>(kKind)) ActivateRowsAs<kKind>(act, tile, rows, cols, ld);
  });
}

// The end of a forward tile: `rows` output rows from o0 of batch item n,
// their sums in `tile` (leading dimension out_channels). Unless the tile
// applied the activation itself (`activated`), the preactivation is kept
// where asked for (preactivation non-null) and the activation applied; the
// tile is then stored, unless it already is the output's rows (`in_place`).
template <typename T, typename A>
void FinishForwardTile(const Conv1DGeometry& g, const ActivationSpec& act, A* tile, int64_t n,
                       int64_t o0, int64_t rows, bool activated, bool in_place, T* output,
                       T* preactivation) {
  const int64_t cout = g.out_channels, out_item = g.out_steps * cout;
  if (!activated) {
    if (preactivation != nullptr) {
      StoreRows<T, A>(tile, cout, rows, cout, g.out_steps, g.layout, o0, 1,
                      preactivation + n * out_item);
    }
    ActivateRows<A>(act, tile, rows, cout, cout);
  }
  if (!in_place) {
    StoreRows<T, A>(tile, cout, rows, cout, g.out_steps, g.layout, o0, 1, output + n * out_item);
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

#if defined(__AVX512F__)
// B for gemm::GemmBf16Pairs: per panel of kNr columns, per pair q of depth
// values, each column's values at depths 2q and 2q + 1 side by side
// (`at(k, n)` gives raw bfloat16 bits; zeros past `depth` and `cols`).
template <typename At>
std::vector<uint16_t> PackBf16PairPanels(int64_t depth, int64_t cols, At at) {
  constexpr int64_t kNr = gemm::Tile<float>::kNr;
  const int64_t panels = gemm::Panels<float>(cols), pairs = CeilDiv(depth, 2);
  std::vector<uint16_t> packed(panels * pairs * gemm::kBf16PairPanelRow, 0);
  for (int64_t p = 0; p < panels; ++p) {
    for (int64_t q = 0; q < pairs; ++q) {
      uint16_t* dst = packed.data() + (p * pairs + q) * gemm::kBf16PairPanelRow;
      const int64_t n_end = std::min(kNr, cols - p * kNr);
      for (int64_t n = 0; n < n_end; ++n) {
        for (int64_t h = 0; h < 2 && 2 * q + h < depth; ++h) {
          dst[2 * n + h] = at(2 * q + h, p * kNr + n);
        }
      }
    }
  }
  return packed;
}
#endif

// A depth block: `taps` runs of `depth` A columns, the first from a_offset
// (elements) in every row, the next tap_stride further on; and the B rows
// from b_row on, taps * depth of them.
struct DepthBlock {
  int64_t a_offset, b_row, depth, taps = 1, tap_stride = 0;
};

// Appends blocks covering `depth` contiguous elements, each at most kMaxDepth
// and all about equally long.
inline void SplitBlock(int64_t a_offset, int64_t b_row, int64_t depth,
                       std::vector<DepthBlock>* out) {
  const int64_t pieces = std::max<int64_t>(1, CeilDiv(depth, kMaxDepth));
  for (int64_t i = 0; i < pieces; ++i) {
    const int64_t begin = i * depth / pieces, end = (i + 1) * depth / pieces;
    out->push_back({a_offset + begin, b_row + begin, end - begin});
  }
}

// Appends blocks covering `taps` runs of `depth` elements, tap_stride apart
// in A and consecutive in B: as many whole taps per block as kMaxDepth
// allows, or one tap split up when a single one is longer.
inline void TapBlocks(int64_t a_offset, int64_t tap_stride, int64_t b_row, int64_t taps,
               int64_t depth, std::vector<DepthBlock>* out) {
  if (depth > kMaxDepth || taps == 1) {
    for (int64_t t = 0; t < taps; ++t) {
      SplitBlock(a_offset + t * tap_stride, b_row + t * depth, depth, out);
    }
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
                A* c, int64_t ldc, const A* bias, Activation fused, A negative_slope,
                TilePrefetch* prefetch = nullptr) {
  constexpr int64_t kNr = gemm::Tile<A>::kNr;
  for (size_t i = 0; i < blocks.size(); ++i) {
    const DepthBlock& b = blocks[i];
    gemm::Epilogue<A> e;
    e.prefetch = prefetch;
    e.accumulate = i > 0;
    e.bias = i == 0 ? bias : nullptr;
    e.fused = i + 1 == blocks.size() ? fused : Activation::kLinear;
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
inline std::vector<DepthBlock> GatheredBlocks(const std::vector<DepthBlock>& blocks) {
  std::vector<DepthBlock> out;
  for (const DepthBlock& b : blocks) out.push_back({b.b_row, b.b_row, b.taps * b.depth});
  return out;
}

}  // namespace cpu_tiles
}  // namespace TF_CONV1D_LEVEL_NAMESPACE
}  // namespace conv1d

#endif  // TF_CONV1D_OP_CORE_CPU_TILES_H_
