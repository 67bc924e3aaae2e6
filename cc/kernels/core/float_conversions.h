// half and bfloat16 converted to and from float a vector at a time, the
// vector as wide as the level's SIMD registers (gemm_kernel.h): F16C for half
// where the level has it, bfloat16 as integer arithmetic on its bits. Written
// out because GCC leaves a loop of Eigen's per-value half conversions scalar,
// and any comparison in it a branch. The results are bitwise those of Eigen's
// static_cast: widening is exact, and narrowing rounds to nearest even as
// Eigen does (F16C's rounding mode 0; Eigen's bfloat16 rounding, NaN made the
// quiet NaN of its sign). Every pass converts through these: whole rows by
// ConvertValues, single vectors in registers by LoadWidened and StoreNarrowed.
// Private to the core: included by its passes only, in their level's
// namespace (cpu_level.h).
#ifndef TF_CONV1D_OP_CORE_FLOAT_CONVERSIONS_H_
#define TF_CONV1D_OP_CORE_FLOAT_CONVERSIONS_H_

#include <cstdint>
#include <cstring>
#include <type_traits>

#include "Eigen/Core"
#include "cc/kernels/core/cpu_level.h"
#include "cc/kernels/core/gemm_kernel.h"

#if defined(__F16C__) || defined(__AVX2__) || defined(__AVX512F__)
#include <immintrin.h>
#endif

namespace conv1d {
inline namespace TF_CONV1D_LEVEL_NAMESPACE {

// The 16-bit floats, stored as such and computed in float.
template <typename T>
constexpr bool kNarrow = std::is_same_v<T, Eigen::half> || std::is_same_v<T, Eigen::bfloat16>;

// One register of floats, of their bits, and of as many 16-bit values.
constexpr int kConversionBytes = gemm::kVectorBytes;
constexpr int kConversionLanes = kConversionBytes / 4;
typedef float ConversionFloats __attribute__((vector_size(kConversionBytes)));
typedef uint32_t ConversionWords __attribute__((vector_size(kConversionBytes)));
typedef uint16_t ConversionHalfWords __attribute__((vector_size(kConversionBytes / 2)));

template <typename To, typename From>
inline To SameBits(const From& from) {
  static_assert(sizeof(To) == sizeof(From), "a reinterpretation of the same bytes");
  To to;
  std::memcpy(&to, &from, sizeof(to));
  return to;
}

// Each lane of float bits u rounded to the nearest bfloat16 (ties to even),
// its bits in the lane's low half; NaN becomes the quiet NaN of its sign.
inline ConversionWords Bfloat16BitsOf(ConversionWords u) {
  const ConversionWords high = u >> 16;
  const ConversionWords rounded = (u + 0x7fffu + (high & 1u)) >> 16;
  const ConversionWords quiet_nan = (high & 0x8000u) | 0x7fc0u;
  return (u & 0x7fffffffu) > 0x7f800000u ? quiet_nan : rounded;
}

// Each 16-bit value of h zero-extended to 32 bits, and each 32-bit value of
// w below 2^16 back to 16 (by the instructions for it: GCC 12 converts
// generic vectors of 16 lanes as two halves).
inline ConversionWords ZeroExtended(ConversionHalfWords h) {
#if defined(__AVX512F__)
  if constexpr (kConversionBytes == 64) {
    return SameBits<ConversionWords>(_mm512_cvtepu16_epi32(SameBits<__m256i>(h)));
  }
#endif
#if defined(__AVX2__)
  if constexpr (kConversionBytes == 32) {
    return SameBits<ConversionWords>(_mm256_cvtepu16_epi32(SameBits<__m128i>(h)));
  }
#endif
  return __builtin_convertvector(h, ConversionWords);
}

inline ConversionHalfWords LowHalves(ConversionWords w) {
#if defined(__AVX512F__)
  if constexpr (kConversionBytes == 64) {
    return SameBits<ConversionHalfWords>(_mm512_cvtepi32_epi16(SameBits<__m512i>(w)));
  }
#endif
#if defined(__AVX2__)
  if constexpr (kConversionBytes == 32) {
    // Each 128-bit lane packs its own four (no saturation below 2^16); the
    // permutation puts lane 0's and lane 1's side by side.
    const __m256i words = SameBits<__m256i>(w);
    return SameBits<ConversionHalfWords>(_mm256_castsi256_si128(
        _mm256_permute4x64_epi64(_mm256_packus_epi32(words, words), _MM_SHUFFLE(3, 1, 2, 0))));
  }
#endif
  return __builtin_convertvector(w, ConversionHalfWords);
}

// kConversionLanes half or bfloat16 values from p, widened to float.
template <typename X>
inline ConversionFloats LoadWidened(const X* p) {
  static_assert(kNarrow<X>, "float from half or bfloat16");
  if constexpr (std::is_same_v<X, Eigen::bfloat16>) {
    // A bfloat16's bits are the high half of its float's.
    ConversionHalfWords bits;
    std::memcpy(&bits, p, sizeof(bits));
    return SameBits<ConversionFloats>(ZeroExtended(bits) << 16);
  } else {
#if defined(__AVX512F__)
    if constexpr (kConversionBytes == 64) {
      return SameBits<ConversionFloats>(
          _mm512_cvtph_ps(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(p))));
    }
#endif
#if defined(__F16C__)
    if constexpr (kConversionBytes == 32) {
      return SameBits<ConversionFloats>(
          _mm256_cvtph_ps(_mm_loadu_si128(reinterpret_cast<const __m128i*>(p))));
    }
    if constexpr (kConversionBytes == 16) {
      return SameBits<ConversionFloats>(
          _mm_cvtph_ps(_mm_loadl_epi64(reinterpret_cast<const __m128i*>(p))));
    }
#endif
    ConversionFloats wide;
    for (int lane = 0; lane < kConversionLanes; ++lane) wide[lane] = static_cast<float>(p[lane]);
    return wide;
  }
}

// v rounded to kConversionLanes half or bfloat16 values, as their bits.
template <typename Y>
inline ConversionHalfWords NarrowedBits(ConversionFloats v) {
  static_assert(kNarrow<Y>, "half or bfloat16 from float");
  if constexpr (std::is_same_v<Y, Eigen::bfloat16>) {
    return LowHalves(Bfloat16BitsOf(SameBits<ConversionWords>(v)));
  } else {
#if defined(__AVX512F__)
    if constexpr (kConversionBytes == 64) {
      return SameBits<ConversionHalfWords>(
          _mm512_cvtps_ph(SameBits<__m512>(v), _MM_FROUND_TO_NEAREST_INT));
    }
#endif
#if defined(__F16C__)
    if constexpr (kConversionBytes == 32) {
      return SameBits<ConversionHalfWords>(
          _mm256_cvtps_ph(SameBits<__m256>(v), _MM_FROUND_TO_NEAREST_INT));
    }
    if constexpr (kConversionBytes == 16) {
      const __m128i bits = _mm_cvtps_ph(SameBits<__m128>(v), _MM_FROUND_TO_NEAREST_INT);
      ConversionHalfWords low;
      std::memcpy(&low, &bits, sizeof(low));
      return low;
    }
#endif
    Y narrow[kConversionLanes];
    for (int lane = 0; lane < kConversionLanes; ++lane) narrow[lane] = static_cast<Y>(v[lane]);
    return SameBits<ConversionHalfWords>(narrow);
  }
}

// v rounded to kConversionLanes half or bfloat16 values at p.
template <typename Y>
inline void StoreNarrowed(Y* p, ConversionFloats v) {
  const ConversionHalfWords bits = NarrowedBits<Y>(v);
  std::memcpy(static_cast<void*>(p), &bits, sizeof(bits));
}

// dst[c] = To(src[c]) for c < n, for any pair of the core's types: half and
// bfloat16 to and from float a register at a time, the rest (and the tails)
// as static_cast.
template <typename From, typename To>
inline void ConvertValues(const From* src, int64_t n, To* dst) {
  int64_t c = 0;
  if constexpr (kNarrow<From> && std::is_same_v<To, float>) {
    for (; c + kConversionLanes <= n; c += kConversionLanes) {
      const ConversionFloats wide = LoadWidened(src + c);
      std::memcpy(dst + c, &wide, sizeof(wide));
    }
  } else if constexpr (std::is_same_v<From, float> && kNarrow<To>) {
    for (; c + kConversionLanes <= n; c += kConversionLanes) {
      ConversionFloats wide;
      std::memcpy(&wide, src + c, sizeof(wide));
      StoreNarrowed(dst + c, wide);
    }
  }
  for (; c < n; ++c) dst[c] = static_cast<To>(src[c]);
}

}  // namespace TF_CONV1D_LEVEL_NAMESPACE
}  // namespace conv1d

#endif  // TF_CONV1D_OP_CORE_FLOAT_CONVERSIONS_H_
