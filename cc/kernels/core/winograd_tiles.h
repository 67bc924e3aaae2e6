// Winograd F(2,3) forward tiles of the CPU core (conv1d_cpu.cc): which
// layers use them, the transformed filter, and one tile of output rows.
#ifndef TF_CONV1D_OP_CORE_WINOGRAD_TILES_H_
#define TF_CONV1D_OP_CORE_WINOGRAD_TILES_H_

#include <cmath>
#include <cstdint>
#include <type_traits>
#include <vector>

#include "Eigen/Core"
#include "cc/kernels/core/activations.h"
#include "cc/kernels/core/conv1d_geometry.h"
#include "cc/kernels/core/cpu_tiles.h"

namespace conv1d {
namespace cpu_tiles {

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

inline int64_t WinogradGroups(int64_t kernel_size) { return CeilDiv(kernel_size, 3); }

// Depth of the GEMM of each point: groups x Cin, one group less for point 3
// where the last group has a zero third tap.
inline int64_t WinogradDepth(const Conv1DGeometry& g, int64_t point) {
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
inline bool WinogradApplies(const Conv1DGeometry& g) {
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

}  // namespace cpu_tiles
}  // namespace conv1d

#endif  // TF_CONV1D_OP_CORE_WINOGRAD_TILES_H_
