// The bfloat16 passes on AVX512_BF16's dot products (gemm::GemmBf16Pairs),
// for the avx512 level on CPUs that have them. The general passes convert
// bfloat16 to float and run the float GEMM: half the multiply-adds per
// instruction of the dot products that oneDNN, behind the stock layer, runs
// on those CPUs.
//
// - The forward reads the windows as bfloat16 pairs where they lie (NWC,
//   adjacent taps); only the float sums are converted back.
// - The input gradient of stride 1 is that forward on dz (conv1d_cpu.cc,
//   BackpropInputAsForward), dz rounded to bfloat16.
// - The filter gradient pairs the steps: each tile's windows transposed so
//   that a kernel row's values at two steps lie side by side, and dz, rounded
//   to bfloat16, in pair panels (WindowPairs, DzPairPanels).
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

#include "Eigen/Core"
#include "cc/kernels/core/activations.h"
#include "cc/kernels/core/conv1d_geometry.h"
#include "cc/kernels/core/cpu_isa.h"
#include "cc/kernels/core/cpu_level.h"
#include "cc/kernels/core/cpu_tiles.h"
#include "cc/kernels/core/gemm_kernel.h"
#include "cc/kernels/core/output_pages.h"
#include "cc/kernels/core/parallel_runner.h"

namespace conv1d {
inline namespace TF_CONV1D_LEVEL_NAMESPACE {

// Whether ForwardInBf16Pairs runs this bfloat16 forward: NWC, dense, each
// window one contiguous run of an even (nonzero) number of values, on a CPU
// with the instructions.
inline bool Bf16PairsApply(const Conv1DGeometry& g) {
  const int64_t depth = g.kernel_size * g.in_channels;
  return gemm::kHasBf16Pairs && g.groups == 1 && g.layout == Layout::kNWC &&
         (g.dilation == 1 || g.kernel_size == 1) && depth > 0 && depth % 2 == 0 &&
         cpu_isa::CpuHasBf16Dot();
}

// ForwardPass (conv1d_cpu.h) of bfloat16 where Bf16PairsApply.
inline void ForwardInBf16Pairs(const Conv1DGeometry& g, const ActivationSpec& act,
                               const Eigen::bfloat16* input, const Eigen::bfloat16* filter,
                               const Eigen::bfloat16* bias, Eigen::bfloat16* output,
                               Eigen::bfloat16* preactivation, const ParallelRunner& runner) {
#if defined(__AVX512F__)
  using namespace cpu_tiles;  // NOLINT: the passes' own building blocks
  using T = Eigen::bfloat16;
  static_assert(sizeof(T) == sizeof(uint16_t), "bfloat16 bits");
  const auto bits = [](const T* p) { return reinterpret_cast<const uint16_t*>(p); };
  constexpr int64_t kNr = gemm::Tile<float>::kNr, kPairRow = gemm::kBf16PairPanelRow;
  const int64_t cin = g.in_channels, cout = g.out_channels, s = g.stride;
  const int64_t inner = g.kernel_size * cin, pairs = inner / 2;
  const int64_t in_item = g.in_steps * cin, out_item = g.out_steps * cout;
  PreferHugePages(output, g.output_elements() * sizeof(T));
  PreferHugePages(preactivation, preactivation ? g.output_elements() * sizeof(T) : 0);
  const uint16_t* filter_bits = bits(filter);
  const std::vector<uint16_t> packed = PackBf16PairPanels(
      inner, cout, [&](int64_t k, int64_t n) { return filter_bits[k * cout + n]; });
  std::vector<float> bias_padded(gemm::Panels<float>(cout) * kNr, 0.0f);
  for (int64_t c = 0; c < cout && bias != nullptr; ++c) {
    bias_padded[c] = static_cast<float>(bias[c]);
  }
  // Depth blocks in pairs: a pair's row of a B panel is as long as a float
  // depth step's, so the float GEMM's block length keeps B in L1 here too.
  std::vector<DepthBlock> blocks;
  SplitBlock(0, 0, pairs, &blocks);
  const bool fuse = InRegisters(act.kind) && preactivation == nullptr;
  const int64_t tile =
      TileRows<float>((s * cin + cout) * sizeof(float), g.out_steps, g.batch, 288);
  const int64_t tiles_per_item = CeilDiv(g.out_steps, tile);

  runner.For(g.batch * tiles_per_item, 2 * tile * inner * cout, [&](int64_t begin, int64_t end) {
    std::vector<uint16_t> window_scratch;
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
        window_scratch.assign((last - first) * cin, 0);
        const int64_t lo = std::max<int64_t>(first, 0), hi = std::min(last, g.in_steps);
        if (hi > lo) {
          std::memcpy(window_scratch.data() + (lo - first) * cin, item + lo * cin,
                      (hi - lo) * cin * sizeof(uint16_t));
        }
        windows = window_scratch.data();
      }
      for (int64_t r = 0; r < rows; ++r) row_offset[r] = r * s * cin;
      acc.resize(rows * cout);
      for (size_t i = 0; i < blocks.size(); ++i) {
        gemm::Epilogue<float> e;
        e.accumulate = i > 0;
        e.bias = i == 0 ? bias_padded.data() : nullptr;
        e.fused = fuse && i + 1 == blocks.size() ? act.kind : Activation::kLinear;
        e.negative_slope = static_cast<float>(act.negative_slope);
        gemm::RowsOf<uint16_t> a;
        a.data = windows + 2 * blocks[i].a_offset;
        a.row_offset = row_offset.data();
        a.k_stride = 2;
        gemm::GemmBf16Pairs(rows, cout, blocks[i].depth, a,
                            packed.data() + blocks[i].b_row * kPairRow, pairs * kPairRow,
                            acc.data(), cout, e);
      }
      if (!fuse) {
        if (preactivation != nullptr) {
          StoreRows<T, float>(acc.data(), cout, rows, cout, g.out_steps, g.layout, o0, 1,
                              preactivation + n * out_item);
        }
        ActivateRows<float>(act, acc.data(), rows, cout, cout);
      }
      StoreRows<T, float>(acc.data(), cout, rows, cout, g.out_steps, g.layout, o0, 1,
                          output + n * out_item);
    }
  });
#endif
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

// dz rows (float, `ld` apart) as the filter gradient's B: pair panels over
// the rows, each value rounded to bfloat16.
#if defined(__AVX512F__)
inline void DzPairPanels(const float* dz, int64_t rows, int64_t cols, int64_t ld,
                         std::vector<uint16_t>* out) {
  out->resize(gemm::Panels<float>(cols) * CeilDiv(rows, 2) * gemm::kBf16PairPanelRow);
  gemm::PackBf16PairsOfFloats(dz, rows, cols, ld, out->data());
}
#endif

}  // namespace TF_CONV1D_LEVEL_NAMESPACE
}  // namespace conv1d

#endif  // TF_CONV1D_OP_CORE_BF16_PAIR_PASSES_H_
