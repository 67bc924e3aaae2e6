// Winograd F(6,3) and F(4,5) forward tiles of the CPU core (conv1d_cpu.cc):
// which layers use them, the transformed filter, and one tile of output rows.
#ifndef TF_CONV1D_OP_CORE_WINOGRAD_TILES_H_
#define TF_CONV1D_OP_CORE_WINOGRAD_TILES_H_

#include <cmath>
#include <cstdint>
#include <type_traits>
#include <vector>

#include "cc/kernels/core/activations.h"
#include "cc/kernels/core/conv1d_geometry.h"
#include "cc/kernels/core/cpu_tiles.h"

namespace conv1d {
inline namespace TF_CONV1D_LEVEL_NAMESPACE {
namespace cpu_tiles {

// Winograd forward tiles (dilation 1; a stride is folded into the channels,
// see WinogradFolding), in one of two forms on the same eight points (0, 1,
// -1, 2, -2, 1/2, -1/2 and infinity): F(6,3), sets of six output rows from
// taps in groups of three, or F(4,5), sets of four rows from groups of five
// (WinogradFormOf). Zero taps pad the last group, and where they do its
// U_7 (the group's last tap) is zero: the GEMM of point 7 stops one group
// short. For each set and group, eight input rows d0..d7 become, with
//   odd1 = d1 + d5 - 17/4 d3,      even1 = d2 + d6 - 17/4 d4,
//   odd2 = d1 / 2 - 5/2 d3 + 2 d5,  even2 = d2 / 4 - 5/4 d4 + d6,
//   odd3 = 2 d1 - 5/2 d3 + d5 / 2,  even3 = 4 d2 - 5 d4 + d6,
//   V = (d0 - d6 + 21/4 (d4 - d2),  even1 +- odd1,  even2 +- odd2,
//        even3 +- odd3,  d7 - d1 + 21/4 (d3 - d5)),
// (the same for both forms: it depends on the points alone) and each group
// of taps w0..w(r-1) of the filter, U_i = c_i sum_k p_i^k w_k at the finite
// points p_i (c = 1, -2/9, -2/9, 1/90, 1/90, 32/45, 32/45), and U_7 its last
// tap; for F(6,3)
//   U = (w0,  -2/9 (w0 +- w1 + w2),  (w0 +- 2 w1 + 4 w2) / 90,
//        8/45 (4 w0 +- 2 w1 + w2),  w2),
// for F(4,5), with e = (w0 + w2 + w4, w0 + 4 w2 + 16 w4, 16 w0 + 4 w2 + w4)
// and o = (w1 + w3, 2 w1 + 8 w3, 8 w1 + 2 w3),
//   U = (w0,  -2/9 (e1 +- o1),  (e2 +- o2) / 90,  2/45 (e3 +- o3),  w4).
// Then with M_i = V_i x U_i (eight GEMMs of depth groups x Cin) and
// s_ij = M_i + M_j, d_ij = M_i - M_j, output row m q + r of set q is
// sum_i p_i^r M_i, plus M7 in the last row (r = m - 1):
//   M0 + s12 + s34 + s56                      (r = 0)
//   d12 + 2^r d34 + 2^-r d56                  (r = 1, 3, 5)
//   s12 + 2^r s34 + 2^-r s56                  (r = 2, 4).
// 8 multiplications per group and set instead of 18 (F(6,3)) or 20
// (F(4,5)). The transforms scale by at most 15 (input), 1.38 (filter: 1.25
// for F(6,3)) and 67 (output: 19.25 for F(4,5)); in float32 F(6,3)'s error
// is 0.8e-6 to 2.6e-6 of the largest output for 64 to 1024 channels and
// K = 3 or 5, against 0.2e-6 to 0.5e-6 for the direct sum
// (python/benchmarks/winograd_error.py; tests allow 1e-5).
// Where a term that the direct sum would multiply by zero is infinite (or a
// NaN), the transformed sums turn Inf - Inf into NaN where the direct sum has
// an Inf; and the scaled sums of huge values may overflow where the direct
// products do not. So a tile whose input holds a value beyond kWinogradBound,
// or any call whose filter does (there, a group of taps whose magnitudes
// sum beyond it), runs the direct way. Within the bound B, a result sums at
// most 67 x 15 x 1.25 x depth x B^2 in magnitude (F(4,5): 19.25 x 15 x
// 1.38): below the largest float for depths up to 2^21 (double: 2^53).
template <typename A>
constexpr A kWinogradBound = A(0x1p480);  // double; float below
template <>
constexpr float kWinogradBound<float> = 0x1p48f;

// Points (GEMMs) per set, in both forms.
constexpr int64_t kWinogradPoints = 8;

// Output rows per set, and taps per group: outputs + taps - 1 = 8 points.
struct WinogradForm {
  int64_t outputs, taps;
};
constexpr WinogradForm kWinogradF63{6, 3};
constexpr WinogradForm kWinogradF45{4, 5};

// Multiplications per set of a layer of K taps: 8 per group, less point 7's
// where zero taps pad the last group.
inline int64_t WinogradProducts(WinogradForm form, int64_t kernel_size) {
  return kWinogradPoints * CeilDiv(kernel_size, form.taps) - (kernel_size % form.taps != 0);
}

// F(4,5) where it needs a tenth fewer multiplications per output row than
// F(6,3) (K = 4, 5, 10, 20: 1.75, 2, 4, 8 against 2.5, 2.5, 5.17, 9.17),
// as its output transform reads eight M rows for every four outputs, not six.
inline WinogradForm WinogradFormOf(int64_t kernel_size) {
  const int64_t f45 = WinogradProducts(kWinogradF45, kernel_size) * kWinogradF63.outputs;
  const int64_t f63 = WinogradProducts(kWinogradF63, kernel_size) * kWinogradF45.outputs;
  return 10 * f45 < 9 * f63 ? kWinogradF45 : kWinogradF63;
}

// A stride s > 1 is folded into the channels: input steps s t .. s t + s - 1
// make folded step t of s x Cin channels (contiguous in NWC, and so in the
// slab), taps s j .. s j + s - 1 make folded tap j (zeros past the kernel),
// and the folded convolution has stride 1: y(t) = sum_j x'(t + j) w'(j).
// The form is chosen for the folded kernel.
struct WinogradFolding {
  int64_t fold, in_channels, kernel_size;
  WinogradForm form;
};

inline WinogradFolding Folded(const Conv1DGeometry& g) {
  const int64_t kernel_size = CeilDiv(g.kernel_size, g.stride);
  return {g.stride, g.stride * g.in_channels, kernel_size, WinogradFormOf(kernel_size)};
}

inline int64_t WinogradGroups(const WinogradFolding& f) {
  return CeilDiv(f.kernel_size, f.form.taps);
}

// Depth of the GEMM of each point: groups x Cin, one group less for point 7
// (infinity: U_7 is the group's last tap) where zero taps pad the last group.
inline int64_t WinogradDepth(const Conv1DGeometry& g, int64_t point) {
  const WinogradFolding f = Folded(g);
  const int64_t groups = WinogradGroups(f);
  return (point == kWinogradPoints - 1 && f.kernel_size % f.form.taps != 0 ? groups - 1
                                                                            : groups) *
         f.in_channels;
}

// Where the taps make three groups or more (a folded stride, mostly), the
// input transform runs over every slab row t once, W_i(t) from rows t .. t
// + 7, and V_i of set q and group j is W_i(m q + r j) (m outputs a set, r
// taps a group): the GEMM reads it as a window of `groups` taps r rows
// apart. Fewer values to transform (8 per slab row instead of 8 x groups
// per set of m rows) in one long vectorized loop, where a small Cin would
// leave the per-group loops a few elements long. (With one or two groups,
// each set transforms its own rows.)
inline bool WinogradRowForm(const Conv1DGeometry& g) { return WinogradGroups(Folded(g)) >= 3; }

// Worth it where groups turn 18 multiplications into 8 (F(6,3), K a
// multiple of 3; a last group of two taps 12 into 7, K = 8: 23 for 48) or
// 20 into 8 (F(4,5), K = 5; K = 4: 16 into 7; K = 1 never gets here).
// The transforms,
// a pass over Cin input and Cout output values per row, must stay small
// against the GEMMs, so stride 1 needs enough channels on both sides.
// Measured with F(6,3) (core_ab.sh, one core of a Zen 4, K = 3, 32 x 1024
// steps, Winograd / direct): 64 -> 64 1.37 (AVX-512) and 1.51 (AVX2), 48 ->
// 48 1.43, 32 -> 32 1.13 and 1.11, 32 -> 64 and 64 -> 32 1.35, 16 -> 64
// 1.04 and 1.24 (256 x 128 steps); even at 16 -> 32 on both levels; 16 ->
// 16 1.09 and 0.86, 64 -> 16 1.5 and 0.98, 32 -> 16 1.18 and 1.02: with
// 8-float vectors the output transform of few filters costs what it saves,
// with 16-float ones not; the product floor leaves out 16 -> 32 and 32 ->
// 16. 9 -> 64 (the sensor layer): 0.80. The filter
// transform must stay small against the whole call: at 128 -> 128 a
// batch-1 layer of 1024 steps gains 6% in TensorFlow (F(2,3) lost 15%
// there). F(6,3) / F(4,3), one core: 1.09 at 128 -> 128, 1.02 on 300 -> 128
// with K = 5, 1.03 on the folded audio front end, 0.96 at batch 1.
constexpr int64_t kMinWinogradFilters = gemm::kVectorBytes == 64 ? 16 : 32;

// The channel pairs (Cin x Cout) a stride-1 layer needs. A last group of one
// tap (K = 4, 7, ...) saves less than one of three: in F(6,3), where these
// were measured, K = 4 does 15 multiplications for every 24 of the direct
// form (K = 3: 8 for 18), so it needs more channels (F(4,5), which K = 4
// takes now, does 7 for 16). Forward, as above: K = 4 at 64 -> 64 1.31 and 1.14,
// 48 -> 48 1.17 and 1.09, 32 -> 64 1.13 and 1.03, 128 -> 128 1.38; 32 -> 32
// 0.88; K = 7 at 64 -> 64 1.37, 256 -> 256 1.56 and 1.39.
inline int64_t WinogradMinChannelPairs(int64_t kernel_size) {
  return kernel_size % 3 == 1 ? 2048 : 1024;
}

inline bool WinogradApplies(const Conv1DGeometry& g) {
  // Stride first: a folded kernel of 3 taps or more bounds it by K / 2, so
  // that Folded's s x Cin cannot overflow.
  if (g.dilation != 1 || (g.kernel_size - 1) / 2 < g.stride || g.out_steps < 8 ||
      g.batch * g.out_steps < 1024) {
    return false;
  }
  const WinogradFolding f = Folded(g);
  if (g.in_channels == 0) return false;
  if (g.stride == 1) {
    return g.in_channels >= 16 && g.out_channels >= kMinWinogradFilters &&
           g.in_channels * g.out_channels >= WinogradMinChannelPairs(g.kernel_size);
  }
  // Folded: only in the row form, and with enough filters for the GEMMs to
  // outweigh the transforms. One core, folded F(4,3) / direct (F(6,3) gains
  // 3% more): 1 -> 64 channels, K = 80, stride 4 (20 folded taps): 1.33;
  // 1 -> 32: 1.16; 1 -> 128: 1.30; 1 -> 16, K = 40, stride 2: 1.0. In the
  // per-set form, with few folded channels: 0.44 to 0.82 (3 -> 40, K = 9,
  // stride 2; 8 -> 32, K = 9, stride 3; 1 -> 32, K = 20, stride 4), and 1.06
  // at 64 -> 64, K = 5, stride 2.
  // (A last folded group of one tap is not measured there.)
  return WinogradRowForm(g) && g.out_channels >= 32 && f.kernel_size % 3 != 1;
}

// The input gradient computed as a forward convolution of dz (stride 1,
// conv1d_cpu.cc) also pays a pass for dz and the flipped filter, so its
// Winograd tiles need more channels than the forward's. Measured as above
// (the input gradient, relu, Winograd / direct; stride 1, so nothing folded): 64 -> 64 1.34 (AVX-512)
// and 1.25 (AVX2), 64 -> 32 with K = 5 1.30 and 1.20; 32 -> 32 0.97 and
// 0.90, 16 -> 64 0.93 with AVX-512; K = 4 at 64 -> 64 1.11 on both, 32 ->
// 64 0.99 and 0.96: twice the forward's channel pairs.
inline bool WinogradAppliesToInputGradient(const Conv1DGeometry& dz_forward) {
  return WinogradApplies(dz_forward) &&
         dz_forward.in_channels * dz_forward.out_channels >=
             2 * WinogradMinChannelPairs(dz_forward.kernel_size);
}

// The GEMM depth blocks of each point, in the form WinogradTile uses.
inline std::vector<std::vector<DepthBlock>> WinogradBlocks(const Conv1DGeometry& g) {
  const WinogradFolding f = Folded(g);
  const int64_t cin = f.in_channels;
  std::vector<std::vector<DepthBlock>> blocks(kWinogradPoints);
  for (int64_t i = 0; i < kWinogradPoints; ++i) {
    if (WinogradRowForm(g)) {
      TapBlocks(0, f.form.taps * cin, 0, WinogradDepth(g, i) / cin, cin, &blocks[i]);
    } else {
      SplitBlock(0, 0, WinogradDepth(g, i), &blocks[i]);
    }
  }
  return blocks;
}

// Rows per Winograd tile, a multiple of the form's m outputs a set: the
// slab, V (8/m depth rows per output row), M (8/m Cout rows) and the output
// within the tile budget, but
// at least 96, as shorter GEMMs lose more to their remainder rows (one core:
// 128 rows lost 3 to 6% on resnet and text_cnn, 48 up to 6%). Where a small
// batch is split into kMinUnits tiles (TileRows), at least 64: a batch-1
// layer of 1024 steps ran 1.09x faster in 16 tiles of 64 rows than in 11 of
// 96 (one core), and 16 tiles share out evenly between threads.
template <typename A>
int64_t WinogradTileRows(const Conv1DGeometry& g) {
  const int64_t min_rows = g.batch < kMinUnits ? 64 : 96;
  const WinogradFolding f = Folded(g);
  const int64_t m = f.form.outputs, depth = WinogradGroups(f) * f.in_channels;
  const int64_t bytes_per_row =
      (f.in_channels + kWinogradPoints * (depth + g.out_channels) / m + g.out_channels) *
      sizeof(A);
  const int64_t rows = TileRows<A>(bytes_per_row, g.out_steps, g.batch, 288);
  return std::min(g.out_steps, RoundUp(std::max(rows, min_rows), m));
}

// Whether every element of x[0, count) lies within +-kWinogradBound (false
// for NaN). An OR of comparisons, which GCC vectorizes with no chain longer
// than one integer OR per vector: a running maximum that propagates NaN
// (Eigen's maxCoeff) waits on a max and two blends per vector, and took a
// tenth of the text_cnn forward's transforms.
template <typename A>
bool WithinWinogradBound(const A* __restrict x, int64_t count) {
  int outside = 0;
  for (int64_t i = 0; i < count; ++i) outside |= !(std::abs(x[i]) <= kWinogradBound<A>);
  return outside == 0;
}

// V_0..7 of `count` channels of one set and group, from its eight input rows
// d0..d7. (Every pointer a __restrict parameter: GCC honours no other, and
// without it the loop is not vectorized.)
template <typename A>
void TransformInputRows(int64_t count, const A* __restrict d0, const A* __restrict d1,
                        const A* __restrict d2, const A* __restrict d3, const A* __restrict d4,
                        const A* __restrict d5, const A* __restrict d6, const A* __restrict d7,
                        A* __restrict v0, A* __restrict v1, A* __restrict v2, A* __restrict v3,
                        A* __restrict v4, A* __restrict v5, A* __restrict v6,
                        A* __restrict v7) {
  for (int64_t ch = 0; ch < count; ++ch) {
    const A odd1 = d1[ch] + d5[ch] - A(4.25) * d3[ch];
    const A even1 = d2[ch] + d6[ch] - A(4.25) * d4[ch];
    const A odd2 = A(0.5) * d1[ch] - A(2.5) * d3[ch] + A(2) * d5[ch];
    const A even2 = A(0.25) * d2[ch] - A(1.25) * d4[ch] + d6[ch];
    const A odd3 = A(2) * d1[ch] - A(2.5) * d3[ch] + A(0.5) * d5[ch];
    const A even3 = A(4) * d2[ch] - A(5) * d4[ch] + d6[ch];
    v0[ch] = d0[ch] - d6[ch] + A(5.25) * (d4[ch] - d2[ch]);
    v1[ch] = even1 + odd1;
    v2[ch] = even1 - odd1;
    v3[ch] = even2 + odd2;
    v4[ch] = even2 - odd2;
    v5[ch] = even3 + odd3;
    v6[ch] = even3 - odd3;
    v7[ch] = d7[ch] - d1[ch] + A(5.25) * (d3[ch] - d5[ch]);
  }
}

// The same for input rows d + r ld, r = 0..7, into v[i].
template <typename A>
void TransformInputs(const A* d, int64_t ld, int64_t count, A* const* v) {
  TransformInputRows(count, d, d + ld, d + 2 * ld, d + 3 * ld, d + 4 * ld, d + 5 * ld, d + 6 * ld,
                     d + 7 * ld, v[0], v[1], v[2], v[3], v[4], v[5], v[6], v[7]);
}

// U_0..7 of `count` filter columns from one tap triple's rows w0..w2 (F(6,3));
// false where a value lies beyond the bound (or is a NaN).
template <typename T, typename A>
bool TransformFilterRows(int64_t count, const T* __restrict w0, const T* __restrict w1,
                         const T* __restrict w2, A* __restrict u0, A* __restrict u1,
                         A* __restrict u2, A* __restrict u3, A* __restrict u4,
                         A* __restrict u5, A* __restrict u6, A* __restrict u7) {
  int within = 1;
  for (int64_t n = 0; n < count; ++n) {
    const A a = static_cast<A>(w0[n]), b = static_cast<A>(w1[n]), c = static_cast<A>(w2[n]);
    within &= std::abs(a) + std::abs(b) + std::abs(c) <= kWinogradBound<A>;  // NaN: false
    const A outer = a + c, low = a + A(4) * c, high = A(4) * a + c;
    u0[n] = a;
    u1[n] = (outer + b) * A(-2.0 / 9);
    u2[n] = (outer - b) * A(-2.0 / 9);
    u3[n] = (low + A(2) * b) / A(90);
    u4[n] = (low - A(2) * b) / A(90);
    u5[n] = (high + A(2) * b) * A(8.0 / 45);
    u6[n] = (high - A(2) * b) * A(8.0 / 45);
    u7[n] = c;
  }
  return within;
}

// The same for F(4,5), from one group's five tap rows w[0..4].
template <typename T, typename A>
bool TransformFilterRows5(int64_t count, const T* const* w, A* __restrict u0, A* __restrict u1,
                          A* __restrict u2, A* __restrict u3, A* __restrict u4,
                          A* __restrict u5, A* __restrict u6, A* __restrict u7) {
  const T* __restrict w0 = w[0];
  const T* __restrict w1 = w[1];
  const T* __restrict w2 = w[2];
  const T* __restrict w3 = w[3];
  const T* __restrict w4 = w[4];
  int within = 1;
  for (int64_t n = 0; n < count; ++n) {
    const A a = static_cast<A>(w0[n]), b = static_cast<A>(w1[n]), c = static_cast<A>(w2[n]),
            d = static_cast<A>(w3[n]), e = static_cast<A>(w4[n]);
    within &= std::abs(a) + std::abs(b) + std::abs(c) + std::abs(d) + std::abs(e) <=
              kWinogradBound<A>;  // NaN: false
    const A even1 = a + c + e, odd1 = b + d;
    const A even2 = a + A(4) * c + A(16) * e, odd2 = A(2) * b + A(8) * d;
    const A even3 = A(16) * a + A(4) * c + e, odd3 = A(8) * b + A(2) * d;
    u0[n] = a;
    u1[n] = (even1 + odd1) * A(-2.0 / 9);
    u2[n] = (even1 - odd1) * A(-2.0 / 9);
    u3[n] = (even2 + odd2) / A(90);
    u4[n] = (even2 - odd2) / A(90);
    u5[n] = (even3 + odd3) * A(2.0 / 45);
    u6[n] = (even3 - odd3) * A(2.0 / 45);
    u7[n] = e;
  }
  return within;
}

// The eight transformed filters U_i, each packed for the GEMM as B (panels of
// kNr columns, zero-padded) with depth groups x Cin, in one pass over the
// filter (folded, see WinogradFolding); empty where the filter holds a value
// beyond the bound.
template <typename T, typename A>
std::vector<std::vector<A>> WinogradFilters(const Conv1DGeometry& g, const T* filter) {
  constexpr int64_t kNr = gemm::Tile<A>::kNr;
  const WinogradFolding f = Folded(g);
  const int64_t cin = f.in_channels, cout = g.out_channels, taps = f.form.taps;
  const int64_t depth = WinogradGroups(f) * cin, panels = gemm::Panels<A>(cout);
  std::vector<std::vector<A>> u(kWinogradPoints, std::vector<A>(panels * depth * kNr, A(0)));
  const std::vector<T> zeros(cout, T(0));  // the taps past the kernel
  bool within = true;
  for (int64_t q = 0; q < depth; ++q) {
    // Folded tap and channel (q / cin * taps + j, q % cin) are tap
    // s (q / cin * taps + j) + q % cin / Cin and channel q % Cin of the
    // layer's filter.
    const int64_t first_tap = f.fold * taps * (q / cin) + q % cin / g.in_channels;
    const T* w[kWinogradF45.taps];
    for (int64_t j = 0; j < taps; ++j) {
      const int64_t tap = first_tap + j * f.fold;
      w[j] = tap < g.kernel_size ? filter + (tap * g.in_channels + q % g.in_channels) * cout
                                 : zeros.data();
    }
    for (int64_t p = 0; p < panels; ++p) {
      const int64_t at = (p * depth + q) * kNr, co = p * kNr, count = std::min(kNr, cout - co);
      A* ui[kWinogradPoints];
      for (int64_t i = 0; i < kWinogradPoints; ++i) ui[i] = u[i].data() + at;
      if (taps == kWinogradF45.taps) {
        const T* wc[kWinogradF45.taps];
        for (int64_t j = 0; j < taps; ++j) wc[j] = w[j] + co;
        within &= TransformFilterRows5<T, A>(count, wc, ui[0], ui[1], ui[2], ui[3], ui[4],
                                             ui[5], ui[6], ui[7]);
      } else {
        within &= TransformFilterRows<T, A>(count, w[0] + co, w[1] + co, w[2] + co, ui[0],
                                            ui[1], ui[2], ui[3], ui[4], ui[5], ui[6], ui[7]);
      }
    }
  }
  if (!within) return {};
  return u;
}

// A set's output rows m q .. m q + m - 1 (m = kRows: 6 for F(6,3), 4 for
// F(4,5)), y0.., from its M_0..7 plus bias, with the activation K applied
// (the kind fixed at compile time, so that the loop vectorizes; restrict
// parameters as in TransformInputRows). y4 and y5 are not used where m = 4.
template <int kRows, Activation K, typename A>
void TransformOutputRows(const ActivationSpec& act, int64_t cout, const A* __restrict m0,
                         const A* __restrict m1, const A* __restrict m2, const A* __restrict m3,
                         const A* __restrict m4, const A* __restrict m5, const A* __restrict m6,
                         const A* __restrict m7, const A* __restrict bias, A* __restrict y0,
                         A* __restrict y1, A* __restrict y2, A* __restrict y3,
                         A* __restrict y4, A* __restrict y5) {
  static_assert(kRows == kWinogradF63.outputs || kRows == kWinogradF45.outputs);
  ActivationSpec fixed = act;
  fixed.kind = K;
  for (int64_t co = 0; co < cout; ++co) {
    const A sum12 = m1[co] + m2[co], diff12 = m1[co] - m2[co];
    const A sum34 = m3[co] + m4[co], diff34 = m3[co] - m4[co];
    const A sum56 = m5[co] + m6[co], diff56 = m5[co] - m6[co];
    y0[co] = Activate<A>(fixed, m0[co] + sum12 + sum34 + sum56 + bias[co]);
    y1[co] = Activate<A>(fixed, diff12 + A(2) * diff34 + A(0.5) * diff56 + bias[co]);
    y2[co] = Activate<A>(fixed, sum12 + A(4) * sum34 + A(0.25) * sum56 + bias[co]);
    A row3 = diff12 + A(8) * diff34 + A(0.125) * diff56;
    if constexpr (kRows == kWinogradF45.outputs) row3 += m7[co];
    y3[co] = Activate<A>(fixed, row3 + bias[co]);
    if constexpr (kRows == kWinogradF63.outputs) {
      y4[co] = Activate<A>(fixed, sum12 + A(16) * sum34 + A(0.0625) * sum56 + bias[co]);
      y5[co] =
          Activate<A>(fixed, diff12 + A(32) * diff34 + A(0.03125) * diff56 + m7[co] + bias[co]);
    }
  }
}

// The same for M_i at m[i], into rows y + r cout.
template <Activation K, typename A>
void TransformOutputsAs(const ActivationSpec& act, WinogradForm form, const A* const* m,
                        const A* bias, int64_t cout, A* y) {
  A* rows[kWinogradF63.outputs] = {};
  for (int64_t r = 0; r < form.outputs; ++r) rows[r] = y + r * cout;
  const auto transform = [&](auto kind) {
    TransformOutputRows<decltype(kind)::value, K, A>(act, cout, m[0], m[1], m[2], m[3], m[4],
                                                     m[5], m[6], m[7], bias, rows[0], rows[1],
                                                     rows[2], rows[3], rows[4], rows[5]);
  };
  if (form.outputs == kWinogradF45.outputs) {
    transform(std::integral_constant<int, kWinogradF45.outputs>());
  } else {
    transform(std::integral_constant<int, kWinogradF63.outputs>());
  }
}

// Scratch of one thread for WinogradTile.
template <typename A>
struct WinogradScratch {
  std::vector<A> slab, v, m, last_set;
  std::vector<int64_t> row_offset;
};

// Register tiles the GEMMs of a tile of `rows` output rows compute (the
// steps a prefetch of the next tile is spread over).
template <typename A>
int64_t WinogradRegisterTiles(const std::vector<std::vector<DepthBlock>>& blocks,
                              const Conv1DGeometry& g, int64_t rows) {
  constexpr int64_t kMr = gemm::Tile<A>::kMr;
  const int64_t sets = CeilDiv(rows, Folded(g).form.outputs);
  int64_t block_count = 0;
  for (const std::vector<DepthBlock>& point : blocks) block_count += point.size();
  return block_count * gemm::Panels<A>(g.out_channels) * CeilDiv(sets, kMr);
}

// Output rows [o0, o0 + rows) of one batch item (rows a multiple of the
// form's set unless they end the item) into c [rows, Cout]: conv + bias, then `fused`
// (relu, relu6, leaky_relu or none). False, with c untouched, where the
// input rows hold a value beyond the bound.
template <typename T, typename A>
bool WinogradTile(const Conv1DGeometry& g, const T* item, int64_t o0, int64_t rows,
                  const std::vector<std::vector<A>>& u,
                  const std::vector<std::vector<DepthBlock>>& blocks, const A* bias,
                  const ActivationSpec& fused, A* c, WinogradScratch<A>* s,
                  TilePrefetch* next_tile = nullptr) {
  constexpr int64_t kPoints = kWinogradPoints;
  const WinogradFolding f = Folded(g);
  const int64_t out = f.form.outputs, taps = f.form.taps;
  const int64_t cin = f.in_channels, cout = g.out_channels;
  const int64_t groups = WinogradGroups(f), depth = groups * cin;
  const int64_t sets = CeilDiv(rows, out);
  // Set q, group j reads slab rows out q + taps j + (0..7).
  const int64_t count = out * (sets - 1) + taps * (groups - 1) + kPoints;
  // The slab's count x s steps of Cin channels are its count folded steps.
  const A* slab = Slab<T, A>(g, item, g.in_steps, g.in_channels, o0 * f.fold - g.pad_left,
                             count * f.fold, &s->slab);
  if (!WithinWinogradBound(slab, count * cin)) return false;
  // V_i's rows: per set (depth values each), or per slab row (cin each).
  const bool row_form = WinogradRowForm(g);
  const int64_t row_values = row_form ? (count - kPoints + 1) * cin : sets * depth;
  s->v.resize(kPoints * row_values);
  A* v[kPoints];
  for (int64_t i = 0; i < kPoints; ++i) v[i] = s->v.data() + i * row_values;
  s->row_offset.resize(sets);
  if (row_form) {
    TransformInputs(slab, cin, row_values, v);
    for (int64_t q = 0; q < sets; ++q) s->row_offset[q] = out * q * cin;
  } else {
    for (int64_t q = 0; q < sets; ++q) {
      for (int64_t j = 0; j < groups; ++j) {
        const int64_t at = q * depth + j * cin;
        A* vq[kPoints];
        for (int64_t i = 0; i < kPoints; ++i) vq[i] = v[i] + at;
        TransformInputs(slab + (out * q + taps * j) * cin, cin, cin, vq);
      }
      s->row_offset[q] = q * depth;
    }
  }
  s->m.resize(kPoints * sets * cout);
  const A* m[kPoints];
  for (int64_t i = 0; i < kPoints; ++i) {
    A* mi = s->m.data() + i * sets * cout;
    GemmBlocks<A>(blocks[i], sets, cout, v[i], s->row_offset.data(), u[i].data(), depth, mi,
                  cout, nullptr, Activation::kLinear, A(0), next_tile);
    m[i] = mi;
  }
  const auto transform = [&](auto kind) {
    for (int64_t q = 0; q < sets; ++q) {
      const A* mq[kPoints];
      for (int64_t i = 0; i < kPoints; ++i) mq[i] = m[i] + q * cout;
      const int64_t valid = std::min(out, rows - out * q);
      A* y = c + out * q * cout;
      if (valid < out) {  // the item ends within this set
        s->last_set.resize(out * cout);
        y = s->last_set.data();
      }
      TransformOutputsAs<decltype(kind)::value, A>(fused, f.form, mq, bias, cout, y);
      if (valid < out) std::copy_n(y, valid * cout, c + out * q * cout);
    }
  };
  WithRegisterForm(fused.kind, transform);
  return true;
}

}  // namespace cpu_tiles
}  // namespace TF_CONV1D_LEVEL_NAMESPACE
}  // namespace conv1d

#endif  // TF_CONV1D_OP_CORE_WINOGRAD_TILES_H_
