// The register-tiled micro-kernel behind gemm::Gemm, and its driver.
//
// Per step k the kernel loads two B vectors, broadcasts one A element per
// row and issues 2 * kMr fused multiply-adds into accumulators that stay in
// registers for the whole depth; C is read and written once per call. On a
// core with two FMA pipes that is kMr cycles of FMAs against 2 + kMr loads,
// so the loop runs at the FMA throughput as long as A and B come from L1/L2.
#include "cc/kernels/core/gemm_kernel.h"

#include <algorithm>
#include <cstring>
#include <type_traits>
#include <utility>

#include "cc/kernels/core/float_conversions.h"
#include "cc/kernels/core/gemm_amx.h"
#include "cc/kernels/core/gemm_simd.h"

namespace conv1d {
inline namespace TF_CONV1D_LEVEL_NAMESPACE {
namespace gemm {
namespace {

// A register tile's sums, zeroed before its depth loop.
template <typename A, int MR>
__attribute__((always_inline)) inline void ZeroSums(
    typename Simd<A>::V (&acc)[MR][Tile<A>::kVectors]) {
#pragma GCC unroll 8
  for (int i = 0; i < MR; ++i) {
#pragma GCC unroll 4
    for (int v = 0; v < Tile<A>::kVectors; ++v) acc[i][v] = Simd<A>::Zero();
  }
}

// One step k of a register tile's sums: B's row k (at b) times A(r, k) (at
// rows[r] + k), added to row r's sums.
template <typename A, int MR>
__attribute__((always_inline)) inline void SumStep(
    typename Simd<A>::V (&acc)[MR][Tile<A>::kVectors], const A* const (&rows)[MR], int64_t k,
    const A* b) {
  using S = Simd<A>;
  constexpr int L = Tile<A>::kLanes, NV = Tile<A>::kVectors;
  typename S::V bv[NV];
#pragma GCC unroll 4
  for (int v = 0; v < NV; ++v) bv[v] = S::Load(b + v * L);
#pragma GCC unroll 8
  for (int i = 0; i < MR; ++i) {
    const typename S::V ai = S::Broadcast(rows[i] + k);
#pragma GCC unroll 4
    for (int v = 0; v < NV; ++v) acc[i][v] = S::Fma(ai, bv[v], acc[i][v]);
  }
}

// C rows [0, MR) x panel columns [0, cols), cols <= kNr. The epilogue is
// fixed at compile time: with short depths (few input channels) it is a
// good part of each call, and branching per vector showed.
template <typename A, int MR, Store ST, Activation F>
void MicroKernel(int64_t depth, const RowsOf<A>& a, const int64_t* row_offset, const A* b,
                 int64_t ldb, A* c, int64_t ldc, int64_t cols, const A* bias, A negative_slope) {
  using S = Simd<A>;
  constexpr int NV = Tile<A>::kVectors;
  typename S::V acc[MR][NV];
  ZeroSums<A, MR>(acc);
  const A* rows[MR];
#pragma GCC unroll 8
  for (int i = 0; i < MR; ++i) rows[i] = a.data + row_offset[i];
  const int64_t k_stride = a.k_stride;
  for (int64_t t = 0; t < a.taps; ++t) {
    int64_t kk = t * a.tap_stride;
    // Unrolled by 4: with the loop's own increments and branch between the
    // FMA groups, one core ran a 256-deep GEMM at 89% of its FMA peak; 98%
    // unrolled by 4 (by 2: 93%, by 8: 95%).
#pragma GCC unroll 4
    for (int64_t k = 0; k < depth; ++k, kk += k_stride, b += ldb) SumStep<A, MR>(acc, rows, kk, b);
  }
  StoreTile<A, MR, ST, F>(acc, c, ldc, cols, bias, negative_slope);
}

// f(std::integral_constant<int, J>()) for J = 0, 1, ..., N - 1, in
// straight-line code.
template <typename F, int... J>
__attribute__((always_inline)) inline void ForEachIndex(F&& f, std::integer_sequence<int, J...>) {
  (f(std::integral_constant<int, J>()), ...);
}

// The same for A of one tap read along its rows (k_stride 1) and B's panel
// rows adjacent (ldb kNr), fetching one line of `prefetch`'s step after
// every kStepsPerLine steps (TilePrefetch::spread). A function of its own,
// not inlined, with the strides as constants and the steps unrolled by
// hand: GCC keeps its row pointers and sums in registers only so (with
// variable strides, or inside its callers, it spilled them around the
// prefetch: 0.72 to 0.95x), and left a pragma's loop of 8 steps rolled.
constexpr int kStepsPerLine = 8;

template <typename A, int MR, Store ST, Activation F>
__attribute__((noinline)) void MicroKernelFetching(int64_t depth, const A* a,
                                                   const int64_t* row_offset, const A* b, A* c,
                                                   int64_t ldc, int64_t cols, const A* bias,
                                                   A negative_slope, TilePrefetch* prefetch) {
  using S = Simd<A>;
  constexpr int NV = Tile<A>::kVectors, NR = Tile<A>::kNr;
  typename S::V acc[MR][NV];
  ZeroSums<A, MR>(acc);
  const A* rows[MR];
#pragma GCC unroll 8
  for (int i = 0; i < MR; ++i) rows[i] = a + row_offset[i];
  int64_t k = 0;
  for (; k + kStepsPerLine <= depth; k += kStepsPerLine, b += kStepsPerLine * NR) {
    ForEachIndex([&](auto j) __attribute__((always_inline)) {
      SumStep<A, MR>(acc, rows, k + j, b + j * NR);
    }, std::make_integer_sequence<int, kStepsPerLine>());
    prefetch->Line();
  }
  for (; k < depth; ++k, b += NR) SumStep<A, MR>(acc, rows, k, b);
  StoreTile<A, MR, ST, F>(acc, c, ldc, cols, bias, negative_slope);
}

#if defined(__AVX512F__)
// The same for bfloat16 pairs (In = uint16_t, see GemmBf16Pairs): per step
// one pair of depth values, A's pair broadcast as one 32-bit lane, and
// AVX512_BF16's dot product adding both products to each float sum (twice
// the multiply-adds per instruction of the float kernel). Its own target:
// the level's copy is compiled for x86-64-v4, which lacks AVX512_BF16, and
// the caller runs this only where the CPU has it (cpu_isa::CpuHasBf16Dot).
template <int MR, Store ST, Activation F>
__attribute__((target("avx512bf16"))) void MicroKernelBf16(
    int64_t pairs, const RowsOf<uint16_t>& a, const int64_t* row_offset, const uint16_t* b,
    int64_t ldb, float* c, int64_t ldc, int64_t cols, const float* bias, float negative_slope) {
  using V = Simd<float>::V;
  constexpr int NV = Tile<float>::kVectors, kPairLanes = 2 * Tile<float>::kLanes;
  V acc[MR][NV];
  ZeroSums<float, MR>(acc);
  const uint16_t* rows[MR];
#pragma GCC unroll 8
  for (int i = 0; i < MR; ++i) rows[i] = a.data + row_offset[i];
  const int64_t k_stride = a.k_stride;
  for (int64_t t = 0; t < a.taps; ++t) {
    int64_t kk = t * a.tap_stride;
#pragma GCC unroll 4
    for (int64_t k = 0; k < pairs; ++k, kk += k_stride, b += ldb) {
      __m512bh bv[NV];
#pragma GCC unroll 4
      for (int v = 0; v < NV; ++v) bv[v] = (__m512bh)_mm512_loadu_si512(b + v * kPairLanes);
#pragma GCC unroll 8
      for (int i = 0; i < MR; ++i) {
        int32_t pair;
        std::memcpy(&pair, rows[i] + kk, sizeof(pair));
        const __m512bh ai = (__m512bh)_mm512_set1_epi32(pair);
#pragma GCC unroll 4
        for (int v = 0; v < NV; ++v) acc[i][v] = _mm512_dpbf16_ps(acc[i][v], ai, bv[v]);
      }
    }
  }
  StoreTile<float, MR, ST, F>(acc, c, ldc, cols, bias, negative_slope);
}
#endif

// The micro-kernel for A's element type `In` as stored: A itself, or
// bfloat16 pairs (uint16_t) summed into float.
template <typename A, typename In, int MR, Store ST, Activation F>
void RunMicroKernel(int64_t depth, const RowsOf<In>& a, const int64_t* row_offset, const In* b,
                    int64_t ldb, A* c, int64_t ldc, int64_t cols, const A* bias, A slope) {
  if constexpr (std::is_same_v<In, A>) {
    MicroKernel<A, MR, ST, F>(depth, a, row_offset, b, ldb, c, ldc, cols, bias, slope);
  } else {
#if defined(__AVX512F__)
    static_assert(std::is_same_v<In, uint16_t> && std::is_same_v<A, float>, "bf16 pairs");
    MicroKernelBf16<MR, ST, F>(depth, a, row_offset, b, ldb, c, ldc, cols, bias, slope);
#endif
  }
}

// The last rows < MR of a panel: the kernel instantiated for exactly that
// many, found by counting down at compile time.
template <typename A, typename In, int MR, Store ST, Activation F>
void RemainderRows(int64_t rows, int64_t depth, const RowsOf<In>& a, const int64_t* row_offset,
                   const In* b, int64_t ldb, A* c, int64_t ldc, int64_t cols, const A* bias,
                   A slope) {
  if constexpr (MR > 0) {
    if (rows == MR) {
      RunMicroKernel<A, In, MR, ST, F>(depth, a, row_offset, b, ldb, c, ldc, cols, bias, slope);
    } else {
      RemainderRows<A, In, MR - 1, ST, F>(rows, depth, a, row_offset, b, ldb, c, ldc, cols,
                                          bias, slope);
    }
  }
}

// All rows of all panels with one epilogue.
template <typename A, typename In, Store ST, Activation F>
void Panels(int64_t rows, int64_t cols, int64_t depth, const RowsOf<In>& a, const In* b,
            int64_t ldb, int64_t panel_stride, A* c, int64_t ldc, const A* bias_all,
            A slope, TilePrefetch* prefetch) {
  constexpr int MR = Tile<A>::kMr, NR = Tile<A>::kNr;
  // Whether the register tiles spread the prefetch over their depth loops:
  // the same for every tile of the call.
  bool fetching = false;
  if constexpr (std::is_same_v<In, A>) {
    fetching = prefetch != nullptr && prefetch->spread && a.taps == 1 && a.k_stride == 1 &&
               ldb == NR;
  }
  // Panels outer: one B panel (depth x kNr) stays in L1 while all rows pass.
  for (int64_t p = 0; p * NR < cols; ++p) {
    const In* bp = b + p * panel_stride;
    A* cp = c + p * NR;
    const int64_t pc = std::min<int64_t>(NR, cols - p * NR);
    const A* bias = bias_all != nullptr ? bias_all + p * NR : nullptr;
    int64_t r = 0;
    for (; r + MR <= rows; r += MR) {
      if constexpr (std::is_same_v<In, A>) {
        if (fetching) {
          prefetch->BeginStep();
          MicroKernelFetching<A, MR, ST, F>(depth, a.data, a.row_offset + r, bp, cp + r * ldc,
                                            ldc, pc, bias, slope, prefetch);
          prefetch->EndStep();
          continue;
        }
      }
      if (prefetch != nullptr) prefetch->Step();
      RunMicroKernel<A, In, MR, ST, F>(depth, a, a.row_offset + r, bp, ldb, cp + r * ldc, ldc,
                                       pc, bias, slope);
    }
    RemainderRows<A, In, MR - 1, ST, F>(rows - r, depth, a, a.row_offset + r, bp, ldb,
                                        cp + r * ldc, ldc, pc, bias, slope);
  }
}

template <typename A, typename In, Store ST>
void PanelsWithStore(int64_t rows, int64_t cols, int64_t depth, const RowsOf<In>& a,
                     const In* b, int64_t ldb, int64_t panel_stride, A* c, int64_t ldc,
                     const Epilogue<A>& e) {
  const auto run = [&](auto fused) {
    Panels<A, In, ST, decltype(fused)::value>(rows, cols, depth, a, b, ldb, panel_stride, c,
                                              ldc, e.bias, e.negative_slope, e.prefetch);
  };
  WithRegisterForm(e.fused, run);
}

template <typename A, typename In>
void GemmOf(int64_t rows, int64_t cols, int64_t depth, const RowsOf<In>& a, const In* b,
            int64_t ldb, int64_t panel_stride, A* c, int64_t ldc, const Epilogue<A>& e) {
  if (e.accumulate) {
    PanelsWithStore<A, In, Store::kAccumulate>(rows, cols, depth, a, b, ldb, panel_stride, c,
                                               ldc, e);
  } else if (e.bias != nullptr) {
    PanelsWithStore<A, In, Store::kSetBias>(rows, cols, depth, a, b, ldb, panel_stride, c, ldc,
                                            e);
  } else {
    PanelsWithStore<A, In, Store::kSet>(rows, cols, depth, a, b, ldb, panel_stride, c, ldc, e);
  }
}

}  // namespace

template <typename A>
void Gemm(int64_t rows, int64_t cols, int64_t depth, const RowsOf<A>& a, const A* b,
          int64_t ldb, int64_t panel_stride, A* c, int64_t ldc, const Epilogue<A>& e) {
  GemmOf<A, A>(rows, cols, depth, a, b, ldb, panel_stride, c, ldc, e);
}

#if defined(__AVX512F__)
__attribute__((target("avx512bf16"))) void PackBf16PairsOfFloats(const float* src, int64_t rows,
                                                                 int64_t cols, int64_t ld,
                                                                 uint16_t* dst) {
  constexpr int64_t kNr = Tile<float>::kNr, kHalf = kNr / 2;
  static_assert(kHalf == 16, "a half panel is one vector of floats");
  // Lane 2n takes lane n of the converted pair of rows (the first row), lane
  // 2n + 1 lane 16 + n (the second).
  alignas(64) static constexpr uint16_t kInterleave[32] = {
      0, 16, 1, 17, 2, 18, 3, 19, 4, 20, 5, 21, 6, 22, 7, 23,
      8, 24, 9, 25, 10, 26, 11, 27, 12, 28, 13, 29, 14, 30, 15, 31};
  const __m512i interleave = _mm512_load_si512(kInterleave);
  const int64_t pairs = (rows + 1) / 2;
  for (int64_t p = 0; p * kNr < cols; ++p) {
    for (int64_t q = 0; q < pairs; ++q) {
      const float* first = src + 2 * q * ld + p * kNr;
      const bool second = 2 * q + 1 < rows;
      uint16_t* out = dst + (p * pairs + q) * kBf16PairPanelRow;
      for (int64_t h = 0; h < 2; ++h) {
        const int64_t n0 = p * kNr + h * kHalf;
        const int64_t count = std::max<int64_t>(0, std::min<int64_t>(kHalf, cols - n0));
        const __mmask16 mask = static_cast<__mmask16>((1u << count) - 1);
        const __m512 a = _mm512_maskz_loadu_ps(mask, first + h * kHalf);
        const __m512 b =
            second ? _mm512_maskz_loadu_ps(mask, first + ld + h * kHalf) : _mm512_setzero_ps();
        const __m512i both = (__m512i)_mm512_cvtne2ps_pbh(b, a);
        _mm512_storeu_si512(out + h * kNr, _mm512_permutexvar_epi16(interleave, both));
      }
    }
  }
}

void GemmBf16Pairs(int64_t rows, int64_t cols, int64_t pairs, const RowsOf<uint16_t>& a,
                   const uint16_t* b, int64_t panel_stride, float* c, int64_t ldc,
                   const Epilogue<float>& e) {
  if (AmxTakes(rows, pairs, a)) {
    GemmBf16PairsOnAmx(rows, cols, pairs, a, b, panel_stride, c, ldc, e);
    return;
  }
  GemmOf<float, uint16_t>(rows, cols, pairs, a, b, kBf16PairPanelRow, panel_stride, c, ldc, e);
  if (e.narrow != nullptr) {
    for (int64_t r = 0; r < rows; ++r) {
      ConvertValues(c + r * ldc, cols,
                    reinterpret_cast<Eigen::bfloat16*>(e.narrow + r * e.narrow_ld));
    }
  }
}
#endif

template void Gemm<float>(int64_t, int64_t, int64_t, const RowsOf<float>&, const float*,
                          int64_t, int64_t, float*, int64_t, const Epilogue<float>&);
template void Gemm<double>(int64_t, int64_t, int64_t, const RowsOf<double>&, const double*,
                           int64_t, int64_t, double*, int64_t, const Epilogue<double>&);

}  // namespace gemm
}  // namespace TF_CONV1D_LEVEL_NAMESPACE
}  // namespace conv1d
