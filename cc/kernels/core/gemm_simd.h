// The vector operations of the GEMM micro-kernels (gemm_kernel.cc, and
// gemm_bf16.cc's pairs of bfloat16), and the epilogue they share: how a
// register tile of sums reaches C (bias, activation in registers, partial
// panels). Included only by files compiled once per level (cpu_level.h).
#ifndef TF_CONV1D_OP_CORE_GEMM_SIMD_H_
#define TF_CONV1D_OP_CORE_GEMM_SIMD_H_

#include <algorithm>
#include <cstdint>
#include <cstring>

#if defined(__AVX512F__) || (defined(__AVX__) && defined(__FMA__))
#include <immintrin.h>
#endif

#include "cc/kernels/core/activations.h"
#include "cc/kernels/core/cpu_level.h"
#include "cc/kernels/core/gemm_kernel.h"

namespace conv1d {
inline namespace TF_CONV1D_LEVEL_NAMESPACE {
namespace gemm {

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

// The sums of rows [0, MR) of one panel, acc[i][v] for row i's vector v,
// into C (cols <= kNr of the panel's columns): added to C, or with the bias,
// then the in-register activation F.
template <typename A, int MR, Store ST, Activation F>
inline void StoreTile(typename Simd<A>::V (&acc)[MR][Tile<A>::kVectors], A* c, int64_t ldc,
                      int64_t cols, const A* bias, A negative_slope) {
  using S = Simd<A>;
  using V = typename S::V;
  constexpr int L = Tile<A>::kLanes, NV = Tile<A>::kVectors;
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

}  // namespace gemm
}  // namespace TF_CONV1D_LEVEL_NAMESPACE
}  // namespace conv1d

#endif  // TF_CONV1D_OP_CORE_GEMM_SIMD_H_
