// half and bfloat16 rows converted to and from float a vector at a time,
// where the level has the instructions (F16C for half; bfloat16 is integer
// arithmetic on its bits). Written out because GCC leaves a loop of Eigen's
// per-value half conversions scalar, and any comparison in it a branch.
// The results are bitwise those of Eigen's static_cast: widening is exact,
// and narrowing rounds to nearest even as Eigen does (F16C's rounding mode
// 0, Eigen's bfloat16 rounding with NaN made the same quiet NaN).
// Private to the core: included by its passes only, in their level's
// namespace (cpu_level.h).
#ifndef TF_CONV1D_OP_CORE_FLOAT_CONVERSIONS_H_
#define TF_CONV1D_OP_CORE_FLOAT_CONVERSIONS_H_

#include <cstdint>
#include <cstring>
#include <type_traits>

#include "Eigen/Core"

#if defined(__F16C__) || defined(__AVX512F__)
#include <immintrin.h>
#endif

namespace conv1d {
inline namespace TF_CONV1D_LEVEL_NAMESPACE {

// dst[c] = To(src[c]) for c < n, for any pair of the core's types: half
// and bfloat16 to and from float by vectors, the others as static_cast.
template <typename From, typename To>
inline void ConvertValues(const From* src, int64_t n, To* dst) {
  int64_t c = 0;
  if constexpr (std::is_same_v<From, Eigen::bfloat16> && std::is_same_v<To, float>) {
    // The bits as the high half of a float's (a loop GCC vectorizes).
    const auto* bits = reinterpret_cast<const uint16_t*>(src);
    for (; c < n; ++c) {
      const uint32_t widened = uint32_t{bits[c]} << 16;
      std::memcpy(dst + c, &widened, sizeof(widened));
    }
  } else if constexpr (std::is_same_v<From, float> && std::is_same_v<To, Eigen::bfloat16>) {
    auto* bits = reinterpret_cast<uint16_t*>(dst);
    for (; c < n; ++c) {
      uint32_t u;
      std::memcpy(&u, src + c, sizeof(u));
      const uint32_t rounded = (u + 0x7fffu + ((u >> 16) & 1u)) >> 16;
      const uint32_t quiet_nan = ((u >> 16) & 0x8000u) | 0x7fc0u;
      bits[c] = static_cast<uint16_t>((u & 0x7fffffffu) > 0x7f800000u ? quiet_nan : rounded);
    }
  } else if constexpr (std::is_same_v<From, Eigen::half> && std::is_same_v<To, float>) {
#if defined(__AVX512F__)
    for (; c + 16 <= n; c += 16) {
      const __m256i h = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(src + c));
      _mm512_storeu_ps(dst + c, _mm512_cvtph_ps(h));
    }
#elif defined(__F16C__)
    for (; c + 8 <= n; c += 8) {
      const __m128i h = _mm_loadu_si128(reinterpret_cast<const __m128i*>(src + c));
      _mm256_storeu_ps(dst + c, _mm256_cvtph_ps(h));
    }
#endif
  } else if constexpr (std::is_same_v<From, float> && std::is_same_v<To, Eigen::half>) {
#if defined(__AVX512F__)
    for (; c + 16 <= n; c += 16) {
      _mm256_storeu_si256(reinterpret_cast<__m256i*>(dst + c),
                          _mm512_cvtps_ph(_mm512_loadu_ps(src + c), _MM_FROUND_TO_NEAREST_INT));
    }
#elif defined(__F16C__)
    for (; c + 8 <= n; c += 8) {
      _mm_storeu_si128(reinterpret_cast<__m128i*>(dst + c),
                       _mm256_cvtps_ph(_mm256_loadu_ps(src + c), _MM_FROUND_TO_NEAREST_INT));
    }
#endif
  }
  for (; c < n; ++c) dst[c] = static_cast<To>(src[c]);  // the tail, or every value
}

}  // namespace TF_CONV1D_LEVEL_NAMESPACE
}  // namespace conv1d

#endif  // TF_CONV1D_OP_CORE_FLOAT_CONVERSIONS_H_
