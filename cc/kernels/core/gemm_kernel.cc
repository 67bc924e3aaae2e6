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

#if defined(__AVX__) && defined(__FMA__)
#include <immintrin.h>
#endif

namespace conv1d {
namespace gemm {
namespace {

template <typename A>
struct Simd;

#if defined(__AVX__) && defined(__FMA__)
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
template <typename A>
typename Simd<A>::V ApplyFused(const Epilogue<A>& e, typename Simd<A>::V v) {
  using S = Simd<A>;
  switch (e.fused) {
    case Fused::kNone:
      return v;
    case Fused::kRelu:
      return S::Max(S::Zero(), v);
    case Fused::kRelu6:
      return S::Min(S::Set(A(6)), S::Max(S::Zero(), v));
    case Fused::kLeakyRelu:  // as Activate: z > 0 ? z : slope * z, for any slope
      return S::IfPositive(v, S::Mul(S::Set(e.negative_slope), v));
  }
  return v;
}

// C rows [0, MR) x panel columns [0, cols), cols <= kNr.
template <typename A, int MR>
void MicroKernel(int64_t depth, const RowsOf<A>& a, const int64_t* row_offset, const A* b,
                 int64_t ldb, A* c, int64_t ldc, int64_t cols, const A* bias,
                 const Epilogue<A>& e) {
  using S = Simd<A>;
  using V = typename S::V;
  constexpr int L = Tile<A>::kLanes;
  V acc[MR][2];
#pragma GCC unroll 8
  for (int i = 0; i < MR; ++i) acc[i][0] = acc[i][1] = S::Zero();
  const A* rows[MR];
#pragma GCC unroll 8
  for (int i = 0; i < MR; ++i) rows[i] = a.data + row_offset[i];
  const int64_t k_stride = a.k_stride;
  for (int64_t t = 0; t < a.taps; ++t) {
    int64_t kk = t * a.tap_stride;
    for (int64_t k = 0; k < depth; ++k, kk += k_stride, b += ldb) {
      const V b0 = S::Load(b), b1 = S::Load(b + L);
#pragma GCC unroll 8
      for (int i = 0; i < MR; ++i) {
        const V ai = S::Broadcast(rows[i] + kk);
        acc[i][0] = S::Fma(ai, b0, acc[i][0]);
        acc[i][1] = S::Fma(ai, b1, acc[i][1]);
      }
    }
  }
  const bool full = cols == 2 * L;
#pragma GCC unroll 8
  for (int i = 0; i < MR; ++i) {
    A* ci = c + i * ldc;
    // Partial panels go through a padded copy, so they see the same vector ops.
    A buffer[2 * L];
    A* dst = ci;
    if (!full) {
      std::fill(buffer, buffer + 2 * L, A(0));
      if (e.accumulate) std::copy(ci, ci + cols, buffer);
      dst = buffer;
    }
    for (int j = 0; j < 2; ++j) {
      V v = acc[i][j];
      if (e.accumulate) {
        v = S::Add(S::Load(dst + j * L), v);
      } else if (bias != nullptr) {
        v = S::Add(v, S::Load(bias + j * L));
      }
      S::Store(dst + j * L, ApplyFused(e, v));
    }
    if (!full) std::copy(buffer, buffer + cols, ci);
  }
}

}  // namespace

template <typename A>
void Gemm(int64_t rows, int64_t cols, int64_t depth, const RowsOf<A>& a, const A* b,
          int64_t ldb, int64_t panel_stride, A* c, int64_t ldc, const Epilogue<A>& e) {
  constexpr int MR = Tile<A>::kMr, NR = Tile<A>::kNr;
  static_assert(MR == 6, "the remainder dispatch below assumes 6 rows");
  // Panels outer: one B panel (depth x kNr) stays in L1 while all rows pass.
  for (int64_t p = 0; p * NR < cols; ++p) {
    const A* bp = b + p * panel_stride;
    A* cp = c + p * NR;
    const int64_t pc = std::min<int64_t>(NR, cols - p * NR);
    const A* bias = e.bias != nullptr ? e.bias + p * NR : nullptr;
    int64_t r = 0;
    for (; r + MR <= rows; r += MR) {
      MicroKernel<A, MR>(depth, a, a.row_offset + r, bp, ldb, cp + r * ldc, ldc, pc, bias, e);
    }
    const int64_t* ro = a.row_offset + r;
    A* cr = cp + r * ldc;
    switch (rows - r) {
      case 5: MicroKernel<A, 5>(depth, a, ro, bp, ldb, cr, ldc, pc, bias, e); break;
      case 4: MicroKernel<A, 4>(depth, a, ro, bp, ldb, cr, ldc, pc, bias, e); break;
      case 3: MicroKernel<A, 3>(depth, a, ro, bp, ldb, cr, ldc, pc, bias, e); break;
      case 2: MicroKernel<A, 2>(depth, a, ro, bp, ldb, cr, ldc, pc, bias, e); break;
      case 1: MicroKernel<A, 1>(depth, a, ro, bp, ldb, cr, ldc, pc, bias, e); break;
      default: break;
    }
  }
}

template void Gemm<float>(int64_t, int64_t, int64_t, const RowsOf<float>&, const float*,
                          int64_t, int64_t, float*, int64_t, const Epilogue<float>&);
template void Gemm<double>(int64_t, int64_t, int64_t, const RowsOf<double>&, const double*,
                           int64_t, int64_t, double*, int64_t, const Epilogue<double>&);

}  // namespace gemm
}  // namespace conv1d
