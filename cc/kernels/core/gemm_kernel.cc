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

#if defined(__AVX512F__) || (defined(__AVX__) && defined(__FMA__))
#include <immintrin.h>
#endif

namespace conv1d {
inline namespace TF_CONV1D_LEVEL_NAMESPACE {
namespace gemm {
namespace {

template <typename A>
struct Simd;

#if defined(__AVX512F__)
template <>
struct Simd<float> {
  using V = __m512;
  static V Zero() { return _mm512_setzero_ps(); }
  static V Set(float x) { return _mm512_set1_ps(x); }
  static V Load(const float* p) { return _mm512_loadu_ps(p); }
  static void Store(float* p, V v) { _mm512_storeu_ps(p, v); }
  static V Broadcast(const float* p) { return _mm512_set1_ps(*p); }
  static V Fma(V a, V b, V c) { return _mm512_fmadd_ps(a, b, c); }
  static V Add(V a, V b) { return _mm512_add_ps(a, b); }
  static V Mul(V a, V b) { return _mm512_mul_ps(a, b); }
  // As the AVX versions below (the same instructions, wider).
  static V Max(V a, V b) { return _mm512_max_ps(a, b); }
  static V Min(V a, V b) { return _mm512_min_ps(a, b); }
  static V IfPositive(V v, V w) {
    return _mm512_mask_blend_ps(_mm512_cmp_ps_mask(v, Zero(), _CMP_GT_OQ), w, v);
  }
};
template <>
struct Simd<double> {
  using V = __m512d;
  static V Zero() { return _mm512_setzero_pd(); }
  static V Set(double x) { return _mm512_set1_pd(x); }
  static V Load(const double* p) { return _mm512_loadu_pd(p); }
  static void Store(double* p, V v) { _mm512_storeu_pd(p, v); }
  static V Broadcast(const double* p) { return _mm512_set1_pd(*p); }
  static V Fma(V a, V b, V c) { return _mm512_fmadd_pd(a, b, c); }
  static V Add(V a, V b) { return _mm512_add_pd(a, b); }
  static V Mul(V a, V b) { return _mm512_mul_pd(a, b); }
  static V Max(V a, V b) { return _mm512_max_pd(a, b); }
  static V Min(V a, V b) { return _mm512_min_pd(a, b); }
  static V IfPositive(V v, V w) {
    return _mm512_mask_blend_pd(_mm512_cmp_pd_mask(v, Zero(), _CMP_GT_OQ), w, v);
  }
};
#elif defined(__AVX__) && defined(__FMA__)
template <>
struct Simd<float> {
  using V = __m256;
  static V Zero() { return _mm256_setzero_ps(); }
  static V Set(float x) { return _mm256_set1_ps(x); }
  static V Load(const float* p) { return _mm256_loadu_ps(p); }
  static void Store(float* p, V v) { _mm256_storeu_ps(p, v); }
  static V Broadcast(const float* p) { return _mm256_broadcast_ss(p); }
  static V Fma(V a, V b, V c) { return _mm256_fmadd_ps(a, b, c); }
  static V Add(V a, V b) { return _mm256_add_ps(a, b); }
  static V Mul(V a, V b) { return _mm256_mul_ps(a, b); }
  // Both return b when either operand is NaN (or both are zeros).
  static V Max(V a, V b) { return _mm256_max_ps(a, b); }
  static V Min(V a, V b) { return _mm256_min_ps(a, b); }
  // v > 0 ? v : w (false for NaN).
  static V IfPositive(V v, V w) {
    return _mm256_blendv_ps(w, v, _mm256_cmp_ps(v, Zero(), _CMP_GT_OQ));
  }
};
template <>
struct Simd<double> {
  using V = __m256d;
  static V Zero() { return _mm256_setzero_pd(); }
  static V Set(double x) { return _mm256_set1_pd(x); }
  static V Load(const double* p) { return _mm256_loadu_pd(p); }
  static void Store(double* p, V v) { _mm256_storeu_pd(p, v); }
  static V Broadcast(const double* p) { return _mm256_broadcast_sd(p); }
  static V Fma(V a, V b, V c) { return _mm256_fmadd_pd(a, b, c); }
  static V Add(V a, V b) { return _mm256_add_pd(a, b); }
  static V Mul(V a, V b) { return _mm256_mul_pd(a, b); }
  static V Max(V a, V b) { return _mm256_max_pd(a, b); }
  static V Min(V a, V b) { return _mm256_min_pd(a, b); }
  static V IfPositive(V v, V w) {
    return _mm256_blendv_pd(w, v, _mm256_cmp_pd(v, Zero(), _CMP_GT_OQ));
  }
};
#else
// Portable GCC/Clang vectors; the compiler maps them onto whatever SIMD the
// target has (or scalar code).
template <typename A, typename Vec>
struct GenericSimd {
  using V = Vec;
  static V Zero() { return V{}; }
  static V Set(A x) { return V{} + x; }
  static V Load(const A* p) { V v; std::memcpy(&v, p, sizeof(V)); return v; }
  static void Store(A* p, V v) { std::memcpy(p, &v, sizeof(V)); }
  static V Broadcast(const A* p) { return Set(*p); }
  static V Fma(V a, V b, V c) { return a * b + c; }
  static V Add(V a, V b) { return a + b; }
  static V Mul(V a, V b) { return a * b; }
  // b when unordered or equal, as the x86 instructions above.
  static V Max(V a, V b) { return a > b ? a : b; }
  static V Min(V a, V b) { return a < b ? a : b; }
  static V IfPositive(V v, V w) { return v > Zero() ? v : w; }
};
typedef float Float4 __attribute__((vector_size(kVectorBytes)));
typedef double Double2 __attribute__((vector_size(kVectorBytes)));
template <>
struct Simd<float> : GenericSimd<float, Float4> {};
template <>
struct Simd<double> : GenericSimd<double, Double2> {};
#endif

// v is always the second operand of Max and Min, which x86 returns when
// either is NaN: NaN passes through, as in TF's Relu and Relu6 (and as in
// Activate). Zeros keep their sign the same way.
template <typename A, Activation F>
typename Simd<A>::V ApplyFused(typename Simd<A>::V v, typename Simd<A>::V slope) {
  using S = Simd<A>;
  if constexpr (F == Activation::kRelu) {
    return S::Max(S::Zero(), v);
  } else if constexpr (F == Activation::kRelu6) {
    return S::Min(S::Set(A(6)), S::Max(S::Zero(), v));
  } else if constexpr (F == Activation::kLeakyRelu) {
    // As Activate: z > 0 ? z : slope * z, for any slope.
    return S::IfPositive(v, S::Mul(slope, v));
  } else {
    static_assert(F == Activation::kLinear,
                  "an activation marked in registers in activation_table.h needs its "
                  "vector form here");
    return v;
  }
}

// How the kernel's sums reach C.
enum class Store { kSet, kSetBias, kAccumulate };

// C rows [0, MR) x panel columns [0, cols), cols <= kNr. The epilogue is
// fixed at compile time: with short depths (few input channels) it is a
// good part of each call, and branching per vector showed.
template <typename A, int MR, Store ST, Activation F>
void MicroKernel(int64_t depth, const RowsOf<A>& a, const int64_t* row_offset, const A* b,
                 int64_t ldb, A* c, int64_t ldc, int64_t cols, const A* bias, A negative_slope) {
  using S = Simd<A>;
  using V = typename S::V;
  constexpr int L = Tile<A>::kLanes, NV = Tile<A>::kVectors;
  V acc[MR][NV];
#pragma GCC unroll 8
  for (int i = 0; i < MR; ++i) {
#pragma GCC unroll 4
    for (int v = 0; v < NV; ++v) acc[i][v] = S::Zero();
  }
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
    for (int64_t k = 0; k < depth; ++k, kk += k_stride, b += ldb) {
      V bv[NV];
#pragma GCC unroll 4
      for (int v = 0; v < NV; ++v) bv[v] = S::Load(b + v * L);
#pragma GCC unroll 8
      for (int i = 0; i < MR; ++i) {
        const V ai = S::Broadcast(rows[i] + kk);
#pragma GCC unroll 4
        for (int v = 0; v < NV; ++v) acc[i][v] = S::Fma(ai, bv[v], acc[i][v]);
      }
    }
  }
  const V slope = S::Set(negative_slope);
  V bias_v[NV];
#pragma GCC unroll 4
  for (int v = 0; v < NV; ++v) {
    bias_v[v] = ST == Store::kSetBias ? S::Load(bias + v * L) : S::Zero();
  }
  const bool full = cols == NV * L;
#pragma GCC unroll 8
  for (int i = 0; i < MR; ++i) {
    A* ci = c + i * ldc;
    // Partial panels go through a padded copy, so they see the same vector ops.
    A buffer[NV * L];
    A* dst = ci;
    if (!full) {
      std::fill(buffer, buffer + NV * L, A(0));
      if constexpr (ST == Store::kAccumulate) std::copy(ci, ci + cols, buffer);
      dst = buffer;
    }
#pragma GCC unroll 4
    for (int v = 0; v < NV; ++v) {
      V sum = acc[i][v];
      if constexpr (ST == Store::kAccumulate) sum = S::Add(S::Load(dst + v * L), sum);
      if constexpr (ST == Store::kSetBias) sum = S::Add(sum, bias_v[v]);
      S::Store(dst + v * L, ApplyFused<A, F>(sum, slope));
    }
    if (!full) std::copy(buffer, buffer + cols, ci);
  }
}

// The last rows < MR of a panel: the kernel instantiated for exactly that
// many, found by counting down at compile time.
template <typename A, int MR, Store ST, Activation F>
void RemainderRows(int64_t rows, int64_t depth, const RowsOf<A>& a, const int64_t* row_offset,
                   const A* b, int64_t ldb, A* c, int64_t ldc, int64_t cols, const A* bias,
                   A slope) {
  if constexpr (MR > 0) {
    if (rows == MR) {
      MicroKernel<A, MR, ST, F>(depth, a, row_offset, b, ldb, c, ldc, cols, bias, slope);
    } else {
      RemainderRows<A, MR - 1, ST, F>(rows, depth, a, row_offset, b, ldb, c, ldc, cols, bias,
                                      slope);
    }
  }
}

// All rows of all panels with one epilogue.
template <typename A, Store ST, Activation F>
void Panels(int64_t rows, int64_t cols, int64_t depth, const RowsOf<A>& a, const A* b,
            int64_t ldb, int64_t panel_stride, A* c, int64_t ldc, const A* bias_all,
            A slope, TilePrefetch* prefetch) {
  constexpr int MR = Tile<A>::kMr, NR = Tile<A>::kNr;
  // Panels outer: one B panel (depth x kNr) stays in L1 while all rows pass.
  for (int64_t p = 0; p * NR < cols; ++p) {
    const A* bp = b + p * panel_stride;
    A* cp = c + p * NR;
    const int64_t pc = std::min<int64_t>(NR, cols - p * NR);
    const A* bias = bias_all != nullptr ? bias_all + p * NR : nullptr;
    int64_t r = 0;
    for (; r + MR <= rows; r += MR) {
      if (prefetch != nullptr) prefetch->Step();
      MicroKernel<A, MR, ST, F>(depth, a, a.row_offset + r, bp, ldb, cp + r * ldc, ldc, pc,
                                bias, slope);
    }
    RemainderRows<A, MR - 1, ST, F>(rows - r, depth, a, a.row_offset + r, bp, ldb,
                                    cp + r * ldc, ldc, pc, bias, slope);
  }
}

template <typename A, Store ST>
void PanelsWithStore(int64_t rows, int64_t cols, int64_t depth, const RowsOf<A>& a,
                     const A* b, int64_t ldb, int64_t panel_stride, A* c, int64_t ldc,
                     const Epilogue<A>& e) {
  const auto run = [&](auto fused) {
    Panels<A, ST, decltype(fused)::value>(rows, cols, depth, a, b, ldb, panel_stride, c, ldc,
                                          e.bias, e.negative_slope, e.prefetch);
  };
  WithRegisterForm(e.fused, run);
}

}  // namespace

template <typename A>
void Gemm(int64_t rows, int64_t cols, int64_t depth, const RowsOf<A>& a, const A* b,
          int64_t ldb, int64_t panel_stride, A* c, int64_t ldc, const Epilogue<A>& e) {
  if (e.accumulate) {
    PanelsWithStore<A, Store::kAccumulate>(rows, cols, depth, a, b, ldb, panel_stride, c, ldc, e);
  } else if (e.bias != nullptr) {
    PanelsWithStore<A, Store::kSetBias>(rows, cols, depth, a, b, ldb, panel_stride, c, ldc, e);
  } else {
    PanelsWithStore<A, Store::kSet>(rows, cols, depth, a, b, ldb, panel_stride, c, ldc, e);
  }
}

template void Gemm<float>(int64_t, int64_t, int64_t, const RowsOf<float>&, const float*,
                          int64_t, int64_t, float*, int64_t, const Epilogue<float>&);
template void Gemm<double>(int64_t, int64_t, int64_t, const RowsOf<double>&, const double*,
                           int64_t, int64_t, double*, int64_t, const Epilogue<double>&);

}  // namespace gemm
}  // namespace TF_CONV1D_LEVEL_NAMESPACE
}  // namespace conv1d
