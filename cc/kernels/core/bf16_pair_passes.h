// The bfloat16 passes on AVX512_BF16's dot products (gemm::GemmBf16Pairs),
// for the avx512 level on CPUs that have them. The general passes convert
// bfloat16 to float and run the float GEMM: half the multiply-adds per
// instruction of the dot products that oneDNN, behind the stock layer, runs
// on those CPUs.
//
// - The forward reads the windows as bfloat16 pairs where they lie (NWC,
//   adjacent taps; those of odd depth copied, each padded with a zero);
//   only the float sums are converted back.
// - The input gradient without dilation is that forward on dz (conv1d_cpu.cc,
//   BackpropInputAsForward), dz rounded to bfloat16: one forward with stride
//   1, one per phase of the input steps modulo a larger stride
//   (BackpropInputInBf16Phases), each writing every stride-th input row.
// - The filter gradient pairs the steps: each tile's windows transposed so
//   that a kernel row's values at two steps lie side by side (straight from
//   the input in NWC), dz in bfloat16 pair panels, and the bias's gradient
//   as one more row of the same GEMM (AddFilterGradTileInBf16Pairs).
//
// Each sum takes its products a pair at a time into float (bfloat16
// denormals read as zero), so results differ from the float path's by float
// rounding and, in the gradients, by dz's rounding to bfloat16 (the stock
// layer's gradients take dy in bfloat16 too); they do not depend on the
// tiling or the number of threads.
#ifndef TF_CONV1D_OP_CORE_BF16_PAIR_PASSES_H_
#define TF_CONV1D_OP_CORE_BF16_PAIR_PASSES_H_

#include <algorithm>
#include <cstdint>
#include <cstring>
#include <type_traits>
#include <vector>

#if defined(__AVX512F__)
#include <immintrin.h>
#endif

#include "Eigen/Core"
#include "cc/kernels/core/activations.h"
#include "cc/kernels/core/conv1d_geometry.h"
#include "cc/kernels/core/cpu_isa.h"
#include "cc/kernels/core/cpu_level.h"
#include "cc/kernels/core/cpu_tiles.h"
#include "cc/kernels/core/gemm_amx.h"
#include "cc/kernels/core/gemm_kernel.h"
#include "cc/kernels/core/output_pages.h"
#include "cc/kernels/core/parallel_runner.h"
#include "cc/kernels/core/tile_prefetch.h"

namespace conv1d {
inline namespace TF_CONV1D_LEVEL_NAMESPACE {

// What the pair passes' tiles come in multiples of (rows of the forward,
// steps of the filter gradient): whole AMX blocks where the products run on
// the tiles, which leaves no rows or pairs to pad (a 114-row tile of 32-row
// blocks computed 14 padding rows for 2), else the register tile's rows.
inline int64_t PairTileMultiple() {
  return cpu_isa::CpuHasAmxBf16() ? gemm::kAmxBlockRows : gemm::Tile<float>::kMr;
}

// Whether ForwardInBf16Pairs runs this bfloat16 forward: NWC, dense, each
// window one contiguous run of a nonzero number of values, on a CPU with the
// instructions.
inline bool Bf16PairsApply(const Conv1DGeometry& g) {
  const int64_t depth = g.kernel_size * g.in_channels;
  return gemm::kHasBf16Pairs && g.groups == 1 && g.layout == Layout::kNWC &&
         (g.dilation == 1 || g.kernel_size == 1) && depth > 0 && cpu_isa::CpuHasBf16Dot();
}

// Where ForwardInBf16Pairs writes output row o of batch item n:
// output + n * item_pitch + o * row_pitch. By default the output tensor's
// own rows; the strided input gradient's phases (BackpropInputInBf16Phases)
// each fill every stride-th row of grad_input.
struct PairOutputRows {
  int64_t row_pitch;
  int64_t item_pitch;
};

// ForwardPass (conv1d_cpu.h) of bfloat16 where Bf16PairsApply. Output rows
// placed by `placement` (where given) need an activation in registers and no
// preactivation.
inline void ForwardInBf16Pairs(const Conv1DGeometry& g, const ActivationSpec& act,
                               const Eigen::bfloat16* input, const Eigen::bfloat16* filter,
                               const Eigen::bfloat16* bias, Eigen::bfloat16* output,
                               Eigen::bfloat16* preactivation, const ParallelRunner& runner,
                               const PairOutputRows* placement = nullptr) {
#if defined(__AVX512F__)
  using namespace cpu_tiles;  // NOLINT: the passes' own building blocks
  using T = Eigen::bfloat16;
  static_assert(sizeof(T) == sizeof(uint16_t), "bfloat16 bits");
  const auto bits = [](const T* p) { return reinterpret_cast<const uint16_t*>(p); };
  constexpr int64_t kNr = gemm::Tile<float>::kNr, kPairRow = gemm::kBf16PairPanelRow;
  const int64_t cin = g.in_channels, cout = g.out_channels, s = g.stride;
  const int64_t inner = g.kernel_size * cin, pairs = CeilDiv(inner, 2);
  // Windows of odd depth are copied, each followed by a zero: in place, the
  // last pair's second value would be the next window's first (or past the
  // input), and an infinity there times the filter's zero a NaN.
  const bool odd_depth = inner % 2 != 0;
  const int64_t pitch = odd_depth ? inner + 1 : s * cin;  // between rows' windows
  const int64_t in_item = g.in_steps * cin;
  const PairOutputRows out = placement != nullptr ? *placement
                                                  : PairOutputRows{cout, g.out_steps * cout};
  if (placement == nullptr) {
    PreferHugePages(output, g.output_elements() * sizeof(T));
    PreferHugePages(preactivation, preactivation ? g.output_elements() * sizeof(T) : 0);
  }
  const uint16_t* filter_bits = bits(filter);
  const std::vector<uint16_t> packed = PackBf16PairPanels(
      inner, cout, [&](int64_t k, int64_t n) { return filter_bits[k * cout + n]; });
  std::vector<float> bias_padded(gemm::Panels<float>(cout) * kNr, 0.0f);
  for (int64_t c = 0; c < cout && bias != nullptr; ++c) {
    bias_padded[c] = static_cast<float>(bias[c]);
  }
  // Depth blocks in pairs: a pair's row of a B panel is as long as a float
  // depth step's, so the float GEMM's block length keeps B in L1 here too.
  // AMX tiles take the whole depth at once: their blocks of C stay in the
  // tiles, and a block's pairs past a whole tile would be padded.
  std::vector<DepthBlock> blocks;
  if (cpu_isa::CpuHasAmxBf16()) {
    blocks.push_back(DepthBlock{0, 0, pairs});
  } else {
    SplitBlock(0, 0, pairs, &blocks);
  }
  const bool fuse = InRegisters(act.kind) && preactivation == nullptr;
  const int64_t tile = TileRows<float>((s * cin + cout) * sizeof(float), g.out_steps, g.batch,
                                       288, kMinUnits, PairTileMultiple());
  const int64_t tiles_per_item = CeilDiv(g.out_steps, tile);

  runner.For(g.batch * tiles_per_item, 2 * tile * inner * cout, [&](int64_t begin, int64_t end) {
    std::vector<uint16_t> span_scratch, window_scratch;
    std::vector<float> acc;
    std::vector<int64_t> row_offset(tile);
    for (int64_t unit = begin; unit < end; ++unit) {
      const int64_t n = unit / tiles_per_item;
      const int64_t o0 = (unit % tiles_per_item) * tile;
      const int64_t rows = std::min(tile, g.out_steps - o0);
      // The input steps [first, last) the tile's windows cover: in place
      // inside the input, else copied with zeros for the padding.
      const int64_t first = o0 * s - g.pad_left;
      const int64_t last = first + (rows - 1) * s + g.kernel_size;
      const uint16_t* item = bits(input + n * in_item);
      const uint16_t* windows;
      if (first >= 0 && last <= g.in_steps) {
        windows = item + first * cin;
      } else {
        span_scratch.assign((last - first) * cin, 0);
        const int64_t lo = std::max<int64_t>(first, 0), hi = std::min(last, g.in_steps);
        if (hi > lo) {
          std::memcpy(span_scratch.data() + (lo - first) * cin, item + lo * cin,
                      (hi - lo) * cin * sizeof(uint16_t));
        }
        windows = span_scratch.data();
      }
      if (odd_depth) {
        window_scratch.resize(rows * pitch);
        for (int64_t r = 0; r < rows; ++r) {
          std::memcpy(window_scratch.data() + r * pitch, windows + r * s * cin,
                      inner * sizeof(uint16_t));
          window_scratch[r * pitch + inner] = 0;
        }
        windows = window_scratch.data();
      }
      for (int64_t r = 0; r < rows; ++r) row_offset[r] = r * pitch;
      acc.resize(rows * cout);
      T* output_rows = output + n * out.item_pitch + o0 * out.row_pitch;
      // The next unit's output rows, where rounded in the product, fetched
      // for writing while this tile's products compute.
      TilePrefetch next_tile;
      if (unit + 1 < end && fuse && placement == nullptr) {
        const int64_t steps = CeilDiv(rows, gemm::Tile<float>::kMr) * gemm::Panels<float>(cout);
        next_tile.output = PrefetchOfTile<T>(g, nullptr, output, unit + 1, tile, steps).output;
      }
      for (size_t i = 0; i < blocks.size(); ++i) {
        const bool last = i + 1 == blocks.size();
        gemm::Epilogue<float> e;
        e.accumulate = i > 0;
        e.bias = i == 0 ? bias_padded.data() : nullptr;
        e.fused = fuse && last ? act.kind : Activation::kLinear;
        e.negative_slope = static_cast<float>(act.negative_slope);
        e.prefetch = &next_tile;
        if (fuse && last) {  // the output rounded in the product's epilogue
          e.narrow = reinterpret_cast<uint16_t*>(output_rows);
          e.narrow_ld = out.row_pitch;
        }
        gemm::RowsOf<uint16_t> a;
        a.data = windows + 2 * blocks[i].a_offset;
        a.row_offset = row_offset.data();
        a.k_stride = 2;
        gemm::GemmBf16Pairs(rows, cout, blocks[i].depth, a,
                            packed.data() + blocks[i].b_row * kPairRow, pairs * kPairRow,
                            acc.data(), cout, e);
      }
      if (!fuse) {
        FinishForwardTile<T, float>(g, act, acc.data(), n, o0, rows, false, false, output,
                                    preactivation);
      }
    }
  });
#endif
}

// Whether BackpropInputInBf16Phases runs this bfloat16 input gradient: a
// stride above 1 without dilation, NWC, dense (stride 1 is a forward of its
// own: conv1d_cpu.cc, BackpropInputAsForward).
inline bool Bf16PairsApplyToPhases(const Conv1DGeometry& g) {
  return gemm::kHasBf16Pairs && g.groups == 1 && g.layout == Layout::kNWC && g.stride > 1 &&
         g.dilation == 1 && g.out_channels > 0 && cpu_isa::CpuHasBf16Dot();
}

// The input gradient where Bf16PairsApplyToPhases, from dz (bfloat16, NWC).
// Input row i sits at p = i + pad_left, and tap k carries dz row (p - k) / s
// to it where that is whole: the rows of one residue r = p mod s take the
// taps k = r + j s, dz rows m' - j for m' = (p - r) / s. So each residue's
// rows are a stride-1 forward convolution of dz (ForwardInBf16Pairs) with
// those taps flipped and transposed, written to every s-th row of
// grad_input; a residue without taps (s > K) gets zeros.
inline void BackpropInputInBf16Phases(const Conv1DGeometry& g, const Eigen::bfloat16* filter,
                                      const Eigen::bfloat16* dz, Eigen::bfloat16* grad_input,
                                      const ParallelRunner& runner) {
  using T = Eigen::bfloat16;
  const int64_t k = g.kernel_size, s = g.stride, pad = g.pad_left;
  const int64_t cin = g.in_channels, cout = g.out_channels;
  PreferHugePages(grad_input, g.input_elements() * sizeof(T));
  std::vector<T> taps_filter;
  for (int64_t i_first = 0; i_first < std::min(s, g.in_steps); ++i_first) {
    const int64_t r = (i_first + pad) % s;
    const int64_t rows = CeilDiv(g.in_steps - i_first, s);
    const PairOutputRows placement{s * cin, g.in_steps * cin};
    T* first_row = grad_input + i_first * cin;
    const int64_t taps = r < k ? CeilDiv(k - r, s) : 0;
    if (taps == 0) {
      for (int64_t n = 0; n < g.batch; ++n) {
        for (int64_t m = 0; m < rows; ++m) {
          std::fill_n(first_row + n * placement.item_pitch + m * placement.row_pitch, cin, T(0));
        }
      }
      continue;
    }
    // Filter [taps, Cout, Cin]: position t holds tap r + (taps - 1 - t) s.
    taps_filter.resize(taps * cout * cin);
    for (int64_t t = 0; t < taps; ++t) {
      const T* tap = filter + (r + (taps - 1 - t) * s) * cin * cout;
      for (int64_t co = 0; co < cout; ++co) {
        for (int64_t ci = 0; ci < cin; ++ci) {
          taps_filter[(t * cout + co) * cin + ci] = tap[ci * cout + co];
        }
      }
    }
    // Phase row m is dz rows m + m0 - (taps - 1) .. m + m0: a window of the
    // forward at output row m with that padding.
    const int64_t m0 = (i_first + pad - r) / s;
    Conv1DGeometry f = g;
    f.in_steps = g.out_steps;
    f.in_channels = cout;
    f.out_channels = cin;
    f.out_steps = rows;
    f.kernel_size = f.kernel_extent = taps;
    f.stride = 1;
    f.pad_left = taps - 1 - m0;
    ForwardInBf16Pairs(f, ActivationSpec(), dz, taps_filter.data(), nullptr, first_row, nullptr,
                       runner, &placement);
  }
}

// Whether BackpropFilterPass of bfloat16 runs on the dot products.
inline bool Bf16PairsApplyToFilterGrad(const Conv1DGeometry& g) {
  return gemm::kHasBf16Pairs && g.groups == 1 && cpu_isa::CpuHasBf16Dot();
}

// A float that holds a bfloat16 value (the windows converted from the
// input), as its bits: exact.
inline uint16_t Bf16BitsOfExact(float value) {
  uint32_t bits;
  std::memcpy(&bits, &value, sizeof(bits));
  return static_cast<uint16_t>(bits >> 16);
}

// A tile's windows (rows of `taps` x `cin` values, cpu_tiles::Windows) as the
// filter gradient's A for GemmBf16Pairs: kernel row i = (tap, channel) at
// i * pitch (pitch even, at least rows), its values at steps 2q and 2q + 1
// side by side, zeros after the last row.
template <typename A>
void WindowPairs(const cpu_tiles::Windows<A>& w, int64_t rows, int64_t taps, int64_t cin,
                 int64_t pitch, std::vector<uint16_t>* out) {
  out->resize(taps * cin * pitch);
  uint16_t* pairs = out->data();
  for (int64_t r = 0; r < rows; ++r) {
    for (int64_t t = 0; t < taps; ++t) {
      const A* src = w.data + r * w.row_pitch + t * w.tap_pitch;
      uint16_t* dst = pairs + t * cin * pitch + r;
      for (int64_t c = 0; c < cin; ++c) dst[c * pitch] = Bf16BitsOfExact(src[c]);
    }
  }
  for (int64_t i = 0; i < taps * cin; ++i) {
    std::fill(pairs + i * pitch + rows, pairs + (i + 1) * pitch, uint16_t{0});
  }
}

#if defined(__AVX512F__)
// Transposes 16 x 16 32-bit lanes: lane j of v[i] goes to lane i of v[j].
inline void Transpose16x16(__m512i v[16]) {
  __m512i t[16];
  for (int i = 0; i < 16; i += 2) {  // 2 x 2 blocks of lanes
    t[i] = _mm512_unpacklo_epi32(v[i], v[i + 1]);
    t[i + 1] = _mm512_unpackhi_epi32(v[i], v[i + 1]);
  }
  for (int i = 0; i < 16; i += 4) {  // 4 x 4 blocks
    for (int h = 0; h < 2; ++h) {
      v[i + 2 * h] = _mm512_unpacklo_epi64(t[i + h], t[i + 2 + h]);
      v[i + 2 * h + 1] = _mm512_unpackhi_epi64(t[i + h], t[i + 2 + h]);
    }
  }
  // Now quarter k of v[4b + c] holds lane 4k + c of v[4b ... 4b + 3]: the
  // quarters move across registers four apart.
  for (int i = 0; i < 4; ++i) {
    for (int h = 0; h < 2; ++h) {
      const __m512i a = v[i + 8 * h], b = v[i + 4 + 8 * h];
      t[i + 8 * h] = _mm512_shuffle_i32x4(a, b, 0x88);      // quarters 0, 2 of a, then of b
      t[i + 4 + 8 * h] = _mm512_shuffle_i32x4(a, b, 0xdd);  // quarters 1, 3
    }
  }
  for (int i = 0; i < 8; ++i) {
    v[i] = _mm512_shuffle_i32x4(t[i], t[i + 8], 0x88);
    v[i + 8] = _mm512_shuffle_i32x4(t[i], t[i + 8], 0xdd);
  }
}

// Below this many input channels WindowPairsOfInput pairs value by value
// (one thread, against the transposes: 4 channels 1.08x, 8 channels 0.91x).
constexpr int64_t kFewChannelsForPairTransposes = 5;

// The filter gradient's A for GemmBf16Pairs read straight from one item of
// bfloat16 NWC input: kernel row i = (tap, channel) at i * pitch (pitch
// even, at least rows), its values at output steps o0 + 2q and o0 + 2q + 1
// side by side; zeros for padding and for a last odd row. What WindowPairs
// gives from the float windows, without converting the input to float and
// back, and 16 x 16 pairs at a time instead of one value.
inline void WindowPairsOfInput(const Conv1DGeometry& g, const uint16_t* item, int64_t o0,
                               int64_t rows, int64_t pitch, std::vector<uint16_t>* out) {
  const int64_t cin = g.in_channels, pairs = CeilDiv(rows, 2);
  out->resize(g.kernel_size * cin * pitch);
  uint16_t* dst = out->data();
  if (cin < kFewChannelsForPairTransposes) {
    // Each transpose below moves 16 x 16 lanes for `cin` channels: with one
    // (the audio front end) 15 of every 16 lanes are empty. Value by value,
    // each kernel row's steps within the input copied and the rest zeros.
    const int64_t row_pitch = g.stride * cin;
    for (int64_t t = 0; t < g.kernel_size; ++t) {
      // Row r reads input step (o0 + r) * stride - pad_left + t * dilation.
      const int64_t step0 = o0 * g.stride - g.pad_left + t * g.dilation;
      const int64_t r_lo = std::clamp<int64_t>(CeilDivSigned(-step0, g.stride), 0, rows);
      // Checked as in Slab: a hostile padding puts step0 far below zero.
      int64_t steps_left;
      if (__builtin_sub_overflow(g.in_steps, step0, &steps_left)) steps_left = INT64_MAX;
      const int64_t r_hi = std::clamp<int64_t>(CeilDivSigned(steps_left, g.stride), r_lo, rows);
      for (int64_t c = 0; c < cin; ++c) {
        uint16_t* row = dst + (t * cin + c) * pitch;
        std::fill(row, row + r_lo, uint16_t{0});
        if (r_hi > r_lo) {  // (else step0 may lie far outside the item: no pointer to it)
          const uint16_t* from = item + (step0 + r_lo * g.stride) * cin + c;
          for (int64_t r = r_lo; r < r_hi; ++r) row[r] = from[(r - r_lo) * row_pitch];
        }
        std::fill(row + r_hi, row + 2 * pairs, uint16_t{0});
      }
    }
    return;
  }
  const uint16_t* source[32];
  for (int64_t t = 0; t < g.kernel_size; ++t) {
    for (int64_t q0 = 0; q0 < pairs; q0 += 16) {
      // The input rows of output steps o0 + 2 q0 ... + 31 at this tap, or
      // none (zeros).
      for (int64_t r = 0; r < 32; ++r) {
        const int64_t row = 2 * q0 + r;
        const int64_t step = (o0 + row) * g.stride - g.pad_left + t * g.dilation;
        source[r] = row < rows && step >= 0 && step < g.in_steps ? item + step * cin : nullptr;
      }
      const __mmask16 pair_mask =
          static_cast<__mmask16>((1u << std::min<int64_t>(16, pairs - q0)) - 1);
      for (int64_t c0 = 0; c0 < cin; c0 += 16) {
        const int64_t channels = std::min<int64_t>(16, cin - c0);
        const __mmask16 channel_mask = static_cast<__mmask16>((1u << channels) - 1);
        const auto load = [&](const uint16_t* row) {
          return row == nullptr ? _mm512_setzero_si512()
                                : _mm512_cvtepu16_epi32(
                                      _mm256_maskz_loadu_epi16(channel_mask, row + c0));
        };
        __m512i v[16];  // v[i]: lane c = the pair (row 2i, row 2i + 1) of channel c0 + c
        for (int i = 0; i < 16; ++i) {
          v[i] = _mm512_or_si512(load(source[2 * i]),
                                 _mm512_slli_epi32(load(source[2 * i + 1]), 16));
        }
        Transpose16x16(v);
        for (int64_t c = 0; c < channels; ++c) {
          _mm512_mask_storeu_epi32(dst + (t * cin + c0 + c) * pitch + 2 * q0, pair_mask, v[c]);
        }
      }
    }
  }
}

// Rows of bfloat16 (`ld` apart) as GemmBf16Pairs' B: pair panels over the
// rows, zeros past the last row and column. PackBf16PairsOfFloats for values
// already in bfloat16.
inline void PackBf16PairsOfRows(const uint16_t* src, int64_t rows, int64_t cols, int64_t ld,
                                uint16_t* dst) {
  constexpr int64_t kNr = gemm::Tile<float>::kNr;
  static_assert(kNr == 32, "a panel's row is one vector of bfloat16");
  // Lane 2n takes lane n of the first row, lane 2n + 1 lane n of the second;
  // kInterleave's first half for columns 0 to 15, its second for 16 to 31.
  alignas(64) static constexpr uint16_t kInterleave[64] = {
      0,  32, 1,  33, 2,  34, 3,  35, 4,  36, 5,  37, 6,  38, 7,  39,
      8,  40, 9,  41, 10, 42, 11, 43, 12, 44, 13, 45, 14, 46, 15, 47,
      16, 48, 17, 49, 18, 50, 19, 51, 20, 52, 21, 53, 22, 54, 23, 55,
      24, 56, 25, 57, 26, 58, 27, 59, 28, 60, 29, 61, 30, 62, 31, 63};
  const __m512i low = _mm512_load_si512(kInterleave), high = _mm512_load_si512(kInterleave + 32);
  const int64_t pairs = CeilDiv(rows, 2);
  for (int64_t p = 0; p * kNr < cols; ++p) {
    const int64_t count = std::min(kNr, cols - p * kNr);
    const __mmask32 mask = static_cast<__mmask32>((uint64_t{1} << count) - 1);
    for (int64_t q = 0; q < pairs; ++q) {
      const uint16_t* first = src + 2 * q * ld + p * kNr;
      const __m512i a = _mm512_maskz_loadu_epi16(mask, first);
      const __m512i b =
          2 * q + 1 < rows ? _mm512_maskz_loadu_epi16(mask, first + ld) : _mm512_setzero_si512();
      uint16_t* out = dst + (p * pairs + q) * gemm::kBf16PairPanelRow;
      _mm512_storeu_si512(out, _mm512_permutex2var_epi16(a, low, b));
      _mm512_storeu_si512(out + 32, _mm512_permutex2var_epi16(a, high, b));
    }
  }
}

// One thread's buffers for AddFilterGradTileInBf16Pairs.
struct Bf16PairTileScratch {
  std::vector<uint16_t> window_pairs, dz_pairs;
  std::vector<float> dz, slab;
  std::vector<int64_t> row_offset;
};

// Adds the products of one tile (`rows` output steps from o0 of one batch
// item) to a thread's partial filter gradient dw: [K * Cin + 1, cout_padded],
// the bias's gradient in the last row, which the GEMM forms from a row of
// ones after the windows'. dz goes in as bfloat16: dy itself where the
// activation is linear (NWC), else computed in float and rounded.
// next_tile (may be null) is stepped while the products compute.
inline void AddFilterGradTileInBf16Pairs(const Conv1DGeometry& g, const ActivationSpec& act,
                                         const Eigen::bfloat16* input_item,
                                         const Eigen::bfloat16* dy_item,
                                         const Eigen::bfloat16* operand_item, int64_t o0,
                                         int64_t rows, int64_t pitch, int64_t cout_padded,
                                         float* dw, Bf16PairTileScratch* scratch,
                                         TilePrefetch* next_tile) {
  using namespace cpu_tiles;  // NOLINT: the passes' own building blocks
  const auto bits = [](const Eigen::bfloat16* p) { return reinterpret_cast<const uint16_t*>(p); };
  const int64_t cin = g.in_channels, cout = g.out_channels, inner = g.kernel_size * cin;
  const int64_t pairs = CeilDiv(rows, 2);
  std::vector<uint16_t>& windows = scratch->window_pairs;
  if (g.layout == Layout::kNWC) {
    WindowPairsOfInput(g, bits(input_item), o0, rows, pitch, &windows);
  } else {
    WindowPairs(TileWindows<Eigen::bfloat16, float>(g, input_item, o0, rows, &scratch->slab),
                rows, g.kernel_size, cin, pitch, &windows);
  }
  windows.resize((inner + 1) * pitch);
  std::fill(windows.begin() + inner * pitch, windows.begin() + inner * pitch + rows,
            Bf16BitsOfExact(1.0f));
  std::fill(windows.begin() + inner * pitch + rows, windows.end(), uint16_t{0});
  scratch->row_offset.resize(inner + 1);
  for (int64_t i = 0; i <= inner; ++i) scratch->row_offset[i] = i * pitch;

  scratch->dz_pairs.resize(gemm::Panels<float>(cout) * pairs * gemm::kBf16PairPanelRow);
  if (act.kind == Activation::kLinear && g.layout == Layout::kNWC) {
    PackBf16PairsOfRows(bits(dy_item) + o0 * cout, rows, cout, cout, scratch->dz_pairs.data());
  } else {
    const float* dz = DzRows<Eigen::bfloat16, float>(g, act, false, dy_item, operand_item, o0,
                                                     rows, cout_padded, &scratch->dz);
    gemm::PackBf16PairsOfFloats(dz, rows, cout, cout_padded, scratch->dz_pairs.data());
  }
  gemm::RowsOf<uint16_t> a;
  a.data = windows.data();
  a.row_offset = scratch->row_offset.data();
  a.k_stride = 2;
  gemm::Epilogue<float> e;
  e.accumulate = true;
  e.prefetch = next_tile;
  gemm::GemmBf16Pairs(inner + 1, cout, pairs, a, scratch->dz_pairs.data(),
                      pairs * gemm::kBf16PairPanelRow, dw, cout_padded, e);
}
#endif

}  // namespace TF_CONV1D_LEVEL_NAMESPACE
}  // namespace conv1d

#endif  // TF_CONV1D_OP_CORE_BF16_PAIR_PASSES_H_
