// The transcendental activations and their derivatives on contiguous float
// and double runs: the float sigmoid family (silu, sigmoid, gelu_tanh) packet
// by packet with an exp and a sigmoid of its own (packets), the rest with
// Eigen's vectorized exp, expm1, log1p, tanh and erfc (arrays): one libm call
// per element costs 4 to 24 ns, as much as the convolution itself on small
// layers. The formulas are those of Activate and ActivationDerivative
// (activations.h), so NaN and Inf come out in the same places. The packets
// also hold relu and relu6, for the depthwise tiles' registers (HasPacketForm).
#ifndef TF_CONV1D_OP_CORE_ACTIVATION_ARRAYS_H_
#define TF_CONV1D_OP_CORE_ACTIVATION_ARRAYS_H_

#include <algorithm>
#include <cstdint>
#include <type_traits>

#include "Eigen/Core"
#include "unsupported/Eigen/SpecialFunctions"  // erfc
#include "cc/kernels/core/activations.h"
#include "cc/kernels/core/cpu_level.h"

namespace conv1d {
inline namespace TF_CONV1D_LEVEL_NAMESPACE {
namespace arrays {

// Eigen computes the elements of a run before its first aligned packet with
// scalar code (libm) and the rest with packets, which can differ in the last
// bit. So that results do not depend on where a row happens to lie in memory
// (they are bitwise reproducible), runs are evaluated in chunks copied to
// aligned buffers, where the split depends on the length only.
constexpr int64_t kChunk = 256;
template <typename S>
using Chunk = Eigen::Map<Eigen::Array<S, Eigen::Dynamic, 1>, Eigen::Aligned64>;
// Temporaries of at most a chunk, on the stack: no allocation per row.
template <typename S>
using Values = Eigen::Array<S, Eigen::Dynamic, 1, Eigen::ColMajor, kChunk, 1>;

// Whether the activation has a vectorized form for S (float or double), here
// or in packets below (ActivateValues): the cheap ones left out vectorize as
// plain loops, or are fused into the GEMM.
template <typename S>
constexpr bool HasArrayForm(Activation kind) {
  if constexpr (!std::is_same_v<S, float> && !std::is_same_v<S, double>) return false;
  switch (kind) {
    case Activation::kTanh:
    case Activation::kGelu:
    case Activation::kGeluTanh:
    case Activation::kSilu:
    case Activation::kSigmoid:
    case Activation::kElu:
    case Activation::kSelu:
    case Activation::kSoftplus:
      return true;
    default:
      return false;
  }
}

// Whether the derivative has a vectorized form for S (ActivationGradValues):
// those that take an exponential or erfc of z. The others are products and
// selects of the operand (tanh's, elu's, selu's of y), which a plain loop
// with the activation a constant vectorizes without the chunk copies.
template <typename S>
constexpr bool HasDerivativeArrayForm(Activation kind) {
  return HasArrayForm<S>(kind) && kind != Activation::kTanh && kind != Activation::kElu &&
         kind != Activation::kSelu && kind != Activation::kSigmoid;
}

// sigmoid(x) and sigmoid(-x) as Sigmoid (activations.h) computes them: from
// e^-|x|, each on its own side, so neither tail loses its digits (NaN stays
// NaN: the comparison is false and e^NaN is NaN).
template <typename S>
struct SigmoidPair {
  Values<S> of_x, of_minus_x;
};
template <typename S, typename Expr>
SigmoidPair<S> SigmoidBothWays(const Expr& x) {
  const Values<S> e = (-x.abs()).exp();
  const Values<S> near_one = S(1) / (S(1) + e);
  const Values<S> near_zero = e * near_one;
  const auto up = x >= S(0);
  return {up.select(near_one, near_zero), up.select(near_zero, near_one)};
}

// z = activation(z), for HasArrayForm<S>(act.kind) without a packet form.
template <typename S>
void Activate(const ActivationSpec& act, Chunk<S> z) {
  using namespace detail;
  switch (act.kind) {
    case Activation::kTanh:
      z = z.tanh();
      return;
    case Activation::kGelu:
      z = S(0.5) * z * (-z * S(kSqrtHalf)).erfc();
      return;
    case Activation::kElu:
      z = (z > S(0)).select(z, z.expm1());
      return;
    case Activation::kSelu:
      z = S(kSeluScale) * (z > S(0)).select(z, S(kSeluAlpha) * z.expm1());
      return;
    case Activation::kSoftplus: {
      const Values<S> tail = (z > S(0)).select(-z, z).exp().log1p();
      z = (z > S(0)).select(z, S(0)) + tail;
      return;
    }
    // The sigmoid family's packet forms are float only.
    case Activation::kSigmoid:
      z = SigmoidBothWays<S>(z).of_x;
      return;
    case Activation::kSilu:
      z *= SigmoidBothWays<S>(z).of_x;
      return;
    case Activation::kGeluTanh: {
      const Values<S> u = S(2) * (S(kSqrt2OverPi) * (z + S(kGeluCubic) * z * z * z));
      z *= SigmoidBothWays<S>(u).of_x;
      return;
    }
    default:
      return;
  }
}

// g = g * activation'(v), v the operand ActivationDerivative takes, for
// HasDerivativeArrayForm<S>(act.kind) without a packet form.
template <typename S>
void ScaleByDerivative(const ActivationSpec& act, Chunk<S> g, const Chunk<S>& v) {
  using namespace detail;
  switch (act.kind) {
    case Activation::kGelu:  // v = z
      g *= S(0.5) * (-v * S(kSqrtHalf)).erfc() +
           v * S(kInvSqrt2Pi) * (S(-0.5) * v * v).exp();
      return;
    case Activation::kSoftplus:  // v = y
      g *= -(-v).expm1();
      return;
    case Activation::kSilu: {  // v = z
      const Values<S> s = SigmoidBothWays<S>(v).of_x;
      g *= s * (S(1) + v * (S(1) - s));
      return;
    }
    case Activation::kGeluTanh: {  // v = z
      const Values<S> v2 = v * v;
      const SigmoidPair<S> s =
          SigmoidBothWays<S>(S(2) * (S(kSqrt2OverPi) * (v + S(kGeluCubic) * v2 * v)));
      g *= s.of_x + S(2) * v * s.of_x * s.of_minus_x * S(kSqrt2OverPi) *
                        (S(1) + S(3 * kGeluCubic) * v2);
      return;
    }
    default:
      return;
  }
}

}  // namespace arrays

namespace packets {

using Packet = Eigen::internal::packet_traits<float>::type;
constexpr int64_t kSize = sizeof(Packet) / sizeof(float);

// e^y for y <= 0, NaN for NaN, and below -87, where e^y falls under the
// smallest normal float, 0 (AVX-512: the denormal, as rounded; TensorFlow's
// kernels flush those to zero anyway).
// Eigen's pexp, for any y, spends half its instructions on ranges the sigmoid
// never reaches (with AVX-512 only two ports take them: it was the silu's
// cost). Short dependency chains: the scheduler holds few iterations of a
// long one, which then runs at its latency, not at the ports' throughput.
inline Packet ExpNonPositive(const Packet& y) {
  using namespace Eigen::internal;
  // n = round(y / ln 2) lands in the low mantissa bits of y / ln 2 + 1.5 * 2^23
  // (its unit in the last place is 1); riding along, the exponent bias 127
  // makes those bits, shifted into the exponent field, the float 2^n. Below
  // -87 (n < -126) they are garbage, and -inf makes NaN: both are masked out
  // at the end, so y needs no clamp there.
#if defined(__AVX512F__)
  // With AVX-512, vscalefps forms p * 2^n in one instruction, rounding
  // below the normal range as any product does (zero under e^-104, where y
  // is clamped so that -inf gives 0, not inf - inf; max returns its second
  // operand, y, for NaN). Two masked steps and a shift fewer than below.
  const Packet y_in = _mm512_max_ps(pset1<Packet>(-104.0f), y);
#else
  const Packet y_in = y;
#endif
  const Packet shifter = pset1<Packet>(12582912.0f + 127.0f);
  const Packet shifted = pmadd(y_in, pset1<Packet>(1.44269504088896341f), shifter);
  const Packet n = psub(shifted, shifter);
  // r = y - n ln 2, |r| <= ln 2 / 2, with ln 2 in two parts: 355/512 (exact in
  // a few bits, so n times it is exact) and the rest.
  Packet r = pmadd(n, pset1<Packet>(-0.693359375f), y_in);
  r = pmadd(n, pset1<Packet>(2.12194440054690583e-4f), r);
  // e^r by its Taylor series to r^7 (the first term left out, r^8 / 8!, is
  // under 2.2e-8, a third of a float's unit in the last place near 1), in
  // pairs of terms (Estrin's scheme: depth 4, not 7).
  const auto c = [](double k) { return pset1<Packet>(static_cast<float>(k)); };
  const Packet r2 = pmul(r, r);
  const Packet r4 = pmul(r2, r2);
  const Packet p01 = pmadd(r, c(1), c(1));
  const Packet p23 = pmadd(r, c(1.0 / 6), c(0.5));
  const Packet p45 = pmadd(r, c(1.0 / 120), c(1.0 / 24));
  const Packet p67 = pmadd(r, c(1.0 / 5040), c(1.0 / 720));
  const Packet p = pmadd(r4, pmadd(r2, p67, p45), pmadd(r2, p23, p01));
#if defined(__AVX512F__)
  return _mm512_scalef_ps(p, n);
#else
  using PacketI = packet_traits<int32_t>::type;  // the same width as Packet
  const Packet two_to_n =
      preinterpret<Packet>(plogical_shift_left<23>(preinterpret<PacketI>(shifted)));
  return pandnot(pmul(p, two_to_n), pcmp_lt(y, pset1<Packet>(-87.0f)));
#endif
}

// Activate's sigmoid on one packet, of x and of -x: 1 / (1 + e^-|x|) on the
// side of x's sign, e^-|x| / (1 + e^-|x|) on the other (1 - one of them would
// lose the digits of the other where it is small). One reciprocal (rcp14 and
// a Newton step where the level has it: a division takes one port for 10 to
// 16 cycles).
struct SigmoidPair {
  Packet of_x, of_minus_x;
};
inline SigmoidPair SigmoidBothWays(const Packet& x) {
  using namespace Eigen::internal;
  const Packet one = pset1<Packet>(1.0f);
  const Packet e = ExpNonPositive(por(x, pset1<Packet>(-0.0f)));  // e^-|x|
#if defined(__AVX512F__)
  // 1 + e lies in [1, 2]: one Newton step on rcp14 needs none of
  // preciprocal's care for zero and infinity; the sign as a mask register,
  // not a vector converted to one and back per select.
  const Packet d = padd(one, e);
  const Packet guess = _mm512_rcp14_ps(d);
  const Packet near_one = pmadd(guess, pnmadd(d, guess, one), guess);
  const Packet near_zero = pmul(e, near_one);
  const __mmask16 up = _mm512_cmp_ps_mask(x, pzero(x), _CMP_GE_OQ);  // false for NaN
  return {_mm512_mask_blend_ps(up, near_zero, near_one),
          _mm512_mask_blend_ps(up, near_one, near_zero)};
#else
  // Eigen's reciprocal here is rcp and one Newton step, up to a unit in the
  // last place off: sigmoid of a large x came out as 1 - 2^-24, not 1, and
  // its derivative y (1 - y) as 6e-8, not 0, which made Inf where the stock
  // gradient's Inf * 0 makes NaN. One more step, fused, rounds it right.
  const Packet d = padd(one, e);
  const Packet guess = preciprocal(d);
  const Packet near_one = pmadd(guess, pnmadd(d, guess, one), guess);
  const Packet near_zero = pmul(e, near_one);
  const Packet up = pcmp_le(pzero(x), x);  // false for NaN: NaN either way
  return {pselect(up, near_one, near_zero), pselect(up, near_zero, near_one)};
#endif
}

inline Packet Sigmoid(const Packet& x) { return SigmoidBothWays(x).of_x; }

// The activations computed packet by packet in registers: the sigmoid family
// (silu gates every Mamba block, gelu_tanh is a product with a sigmoid), whose
// pass of its own costs as much as the depthwise convolution it follows, and
// the clamps relu and relu6, whose pass costs a trip through the cache and
// keeps the tile from being stored past it. The depthwise tile applies them
// to its sums before it stores them (for the sigmoid family with the same
// function as the array passes, so the same bits; the clamps are exact).
constexpr bool HasPacketForm(Activation kind) {
  return kind == Activation::kSilu || kind == Activation::kSigmoid ||
         kind == Activation::kGeluTanh || kind == Activation::kRelu ||
         kind == Activation::kRelu6;
}

// gelu_tanh's sigmoid argument, 2 sqrt(2 / pi) (z + c z^3) (activations.h).
inline Packet GeluTanhArgument(const Packet& z) {
  using namespace Eigen::internal;
  using namespace detail;
  const Packet cubic = pmul(pmul(pmul(pset1<Packet>(static_cast<float>(kGeluCubic)), z), z), z);
  const Packet scale = pset1<Packet>(static_cast<float>(kSqrt2OverPi));
  return pmul(pset1<Packet>(2.0f), pmul(scale, padd(z, cubic)));
}

template <Activation K>
inline Packet Activate(const Packet& z) {
  using namespace Eigen::internal;
  const Packet zero = pzero(z);
  // The clamps as Activate (activations.h) writes them: a NaN or a -0 fails
  // each comparison and passes through unchanged.
  if constexpr (K == Activation::kRelu) {
    return pselect(pcmp_lt(z, zero), zero, z);
  } else if constexpr (K == Activation::kRelu6) {
    const Packet six = pset1<Packet>(6.0f);
    return pselect(pcmp_lt(z, zero), zero, pselect(pcmp_lt(six, z), six, z));
  } else if constexpr (K == Activation::kSilu) {
    return pmul(z, Sigmoid(z));
  } else if constexpr (K == Activation::kSigmoid) {
    return Sigmoid(z);
  } else if constexpr (K == Activation::kGeluTanh) {
    return pmul(z, Sigmoid(GeluTanhArgument(z)));
  } else {
    static_assert(K == Activation::kLinear, "HasPacketForm lists the activations here");
    return z;
  }
}

// g * activation'(v), v the operand ActivationDerivative takes (z for silu
// and gelu_tanh, y for sigmoid), the formulas of activations.h.
template <Activation K>
inline Packet ScaleByDerivative(const Packet& g, const Packet& v) {
  using namespace Eigen::internal;
  using namespace detail;
  const Packet one = pset1<Packet>(1.0f);
  // The clamps' slopes (v = y) as products, as ActivationGradRowAsIs forms
  // them, so that a NaN or an infinite g stays one where the slope is 0.
  if constexpr (K == Activation::kRelu) {
    return pmul(g, pand(pcmp_lt(pzero(v), v), one));
  } else if constexpr (K == Activation::kRelu6) {
    const Packet inside = pand(pcmp_lt(pzero(v), v), pcmp_lt(v, pset1<Packet>(6.0f)));
    return pmul(g, pand(inside, one));
  } else if constexpr (K == Activation::kSilu) {
    const Packet s = Sigmoid(v);
    return pmul(g, pmul(s, padd(one, pmul(v, psub(one, s)))));
  } else if constexpr (K == Activation::kSigmoid) {
    return pmul(g, pmul(v, psub(one, v)));
  } else if constexpr (K == Activation::kGeluTanh) {
    const SigmoidPair s = SigmoidBothWays(GeluTanhArgument(v));
    const Packet slope = padd(one, pmul(pset1<Packet>(static_cast<float>(3 * kGeluCubic)), pmul(v, v)));
    const Packet tail = pmul(pmul(pmul(pmul(pset1<Packet>(2.0f), v), s.of_x), s.of_minus_x),
                             pmul(pset1<Packet>(static_cast<float>(kSqrt2OverPi)), slope));
    return pmul(g, padd(s.of_x, tail));
  } else {
    static_assert(K == Activation::kLinear, "HasPacketForm lists the activations here");
    return g;
  }
}

// f(ActivationConstant<kind>()) where HasPacketForm(kind), else
// f(ActivationConstant<kLinear>()): the one place a runtime activation
// becomes a compile-time packet form.
template <typename F>
decltype(auto) WithPacketForm(Activation kind, F&& f) {
  switch (kind) {
    case Activation::kSilu:
      return f(ActivationConstant<Activation::kSilu>());
    case Activation::kSigmoid:
      return f(ActivationConstant<Activation::kSigmoid>());
    case Activation::kGeluTanh:
      return f(ActivationConstant<Activation::kGeluTanh>());
    case Activation::kRelu:
      return f(ActivationConstant<Activation::kRelu>());
    case Activation::kRelu6:
      return f(ActivationConstant<Activation::kRelu6>());
    default:
      return f(ActivationConstant<Activation::kLinear>());
  }
}

// out[0, count) = f(in[0, count)...) packet by packet, in registers: one
// pass, where the array form makes one per operation (out may be an input).
// The last partial packet goes through padded copies, so each element's
// result depends on its values only.
template <typename F, typename... In>
void Map(float* out, int64_t count, F f, const In*... in) {
  using namespace Eigen::internal;
  int64_t i = 0;
  // Four packets at a time, so their dependency chains interleave.
  for (; i + 4 * kSize <= count; i += 4 * kSize) {
    Packet p[4];
    for (int j = 0; j < 4; ++j) p[j] = f(ploadu<Packet>(in + i + j * kSize)...);
    for (int j = 0; j < 4; ++j) pstoreu(out + i + j * kSize, p[j]);
  }
  for (; i + kSize <= count; i += kSize) pstoreu(out + i, f(ploadu<Packet>(in + i)...));
  if (i < count) {
    const auto padded = [&](const float* run) {
      alignas(64) float tail[kSize] = {};
      std::copy_n(run + i, count - i, tail);
      return pload<Packet>(tail);
    };
    alignas(64) float result[kSize];
    pstore(result, f(padded(in)...));
    std::copy_n(result, count - i, out + i);
  }
}

}  // namespace packets

// data[0, count) = activation(data) in place (S float or double); false, and
// nothing done, for the activations without an array form.
template <typename S>
bool ActivateValues(const ActivationSpec& act, S* data, int64_t count) {
  if (!arrays::HasArrayForm<S>(act.kind)) return false;
  if constexpr (std::is_same_v<S, float>) {
    if (packets::HasPacketForm(act.kind)) {
      packets::WithPacketForm(act.kind, [&](auto kind) {
        packets::Map(data, count, packets::Activate<decltype(kind)::value>,
                     static_cast<const float*>(data));
      });
      return true;
    }
  }
  alignas(64) S z[arrays::kChunk];
  for (int64_t begin = 0; begin < count; begin += arrays::kChunk) {
    const int64_t n = std::min(arrays::kChunk, count - begin);
    std::copy_n(data + begin, n, z);
    arrays::Activate<S>(act, arrays::Chunk<S>(z, n));
    std::copy_n(z, n, data + begin);
  }
  return true;
}

// dz[0, count) = dy * activation'(operand) (S float or double); false, and
// nothing done, where the derivative has no array form.
template <typename S>
bool ActivationGradValues(const ActivationSpec& act, const S* dy, const S* operand,
                          int64_t count, S* dz) {
  if (!arrays::HasDerivativeArrayForm<S>(act.kind)) return false;
  if constexpr (std::is_same_v<S, float>) {
    if (packets::HasPacketForm(act.kind)) {
      packets::WithPacketForm(act.kind, [&](auto kind) {
        packets::Map(dz, count, packets::ScaleByDerivative<decltype(kind)::value>, dy, operand);
      });
      return true;
    }
  }
  alignas(64) S g[arrays::kChunk];
  alignas(64) S v[arrays::kChunk];
  for (int64_t begin = 0; begin < count; begin += arrays::kChunk) {
    const int64_t n = std::min(arrays::kChunk, count - begin);
    std::copy_n(dy + begin, n, g);
    std::copy_n(operand + begin, n, v);
    arrays::ScaleByDerivative<S>(act, arrays::Chunk<S>(g, n), arrays::Chunk<S>(v, n));
    std::copy_n(g, n, dz + begin);
  }
  return true;
}

}  // namespace TF_CONV1D_LEVEL_NAMESPACE
}  // namespace conv1d

#endif  // TF_CONV1D_OP_CORE_ACTIVATION_ARRAYS_H_
