// The transcendental activations and their derivatives on contiguous float
// runs, with Eigen's vectorized exp, expm1, log1p, tanh and erfc: one libm
// call per element costs 4 to 24 ns, as much as the convolution itself on
// small layers. The formulas are those of Activate and ActivationDerivative
// (activations.h), so NaN and Inf come out in the same places.
#ifndef TF_CONV1D_OP_CORE_ACTIVATION_ARRAYS_H_
#define TF_CONV1D_OP_CORE_ACTIVATION_ARRAYS_H_

#include <algorithm>
#include <cstdint>

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
using Chunk = Eigen::Map<Eigen::ArrayXf, Eigen::Aligned64>;
// Temporaries of at most a chunk, on the stack: no allocation per row.
using Floats = Eigen::Array<float, Eigen::Dynamic, 1, Eigen::ColMajor, kChunk, 1>;

inline float F(double constant) { return static_cast<float>(constant); }

// Activate's sigmoid: 1 / (1 + e^-x) from 0 up, e^x / (1 + e^x) below.
template <typename X>
Floats Sigmoid(const X& x) {
  // One division for both tails (a select of the two quotients divides twice).
  const Floats e = (-x.abs()).exp();
  return (x >= 0.0f).select(Floats::Ones(x.size()), e) / (1.0f + e);
}

// Whether Activate and ScaleByDerivative below have the activation (the
// cheap ones they leave out vectorize as plain loops, or are fused into the
// GEMM).
inline bool HasArrayForm(Activation kind) {
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

// z = activation(z), for HasArrayForm(act.kind).
inline void Activate(const ActivationSpec& act, Chunk z) {
  using namespace detail;
  switch (act.kind) {
    case Activation::kTanh:
      z = z.tanh();
      return;
    case Activation::kGelu:
      z = 0.5f * z * (-z * F(kSqrtHalf)).erfc();
      return;
    case Activation::kGeluTanh: {
      const Floats inner = F(kSqrt2OverPi) * (z + F(kGeluCubic) * z * z * z);
      z = z * Sigmoid(2.0f * inner);
      return;
    }
    case Activation::kSilu:
      z = z * Sigmoid(z);
      return;
    case Activation::kSigmoid:
      z = Sigmoid(z);
      return;
    case Activation::kElu:
      z = (z > 0.0f).select(z, z.expm1());
      return;
    case Activation::kSelu:
      z = F(kSeluScale) * (z > 0.0f).select(z, F(kSeluAlpha) * z.expm1());
      return;
    case Activation::kSoftplus: {
      const Floats tail = (z > 0.0f).select(-z, z).exp().log1p();
      z = (z > 0.0f).select(z, 0.0f) + tail;
      return;
    }
    default:
      return;
  }
}

// g = g * activation'(v), v the operand ActivationDerivative takes, for
// HasArrayForm(act.kind).
inline void ScaleByDerivative(const ActivationSpec& act, Chunk g, const Chunk& v) {
  using namespace detail;
  switch (act.kind) {
    case Activation::kGelu:  // v = z
      g *= 0.5f * (-v * F(kSqrtHalf)).erfc() + v * F(kInvSqrt2Pi) * (-0.5f * v * v).exp();
      return;
    case Activation::kGeluTanh: {  // v = z
      const Floats z2 = v * v;
      const Floats u = F(kSqrt2OverPi) * (v + F(kGeluCubic) * z2 * v);
      const Floats s = Sigmoid(2.0f * u);
      g *= s + 2.0f * v * s * Sigmoid(-2.0f * u) * F(kSqrt2OverPi) *
                   (1.0f + F(3 * kGeluCubic) * z2);
      return;
    }
    case Activation::kSilu: {  // v = z
      const Floats s = Sigmoid(v);
      g *= s * (1.0f + v * (1.0f - s));
      return;
    }
    case Activation::kSoftplus:  // v = y
      g *= -(-v).expm1();
      return;
    // Branches written as in ActivationDerivative, which a plain loop calls
    // per element through its switch.
    case Activation::kTanh:  // v = y
      g *= 1.0f - v * v;
      return;
    case Activation::kSigmoid:  // v = y
      g *= v * (1.0f - v);
      return;
    case Activation::kElu:  // v = y
      g *= (v < 0.0f).select(v + 1.0f, 1.0f);
      return;
    case Activation::kSelu:  // v = y
      g *= (v < 0.0f).select(v + F(kSeluScale * kSeluAlpha), F(kSeluScale));
      return;
    default:
      return;
  }
}

}  // namespace arrays

namespace packets {

using Packet = Eigen::internal::packet_traits<float>::type;
constexpr int64_t kSize = sizeof(Packet) / sizeof(float);

// Sigmoid as Sigmoid above computes it, on one packet.
inline Packet Sigmoid(const Packet& x) {
  using namespace Eigen::internal;
  const Packet one = pset1<Packet>(1.0f);
  const Packet e = pexp(pnegate(pabs(x)));
  return pdiv(pselect(pcmp_le(pzero(x), x), one, e), padd(one, e));
}

// data[0, count) = f(data) packet by packet, in registers: one pass, where
// the array form makes one per operation. The last partial packet goes
// through a padded copy, so each element's result depends on its value only.
template <typename F>
void Map(float* data, int64_t count, F f) {
  using namespace Eigen::internal;
  int64_t i = 0;
  for (; i + kSize <= count; i += kSize) pstoreu(data + i, f(ploadu<Packet>(data + i)));
  if (i < count) {
    alignas(64) float tail[kSize] = {};
    std::copy_n(data + i, count - i, tail);
    pstore(tail, f(pload<Packet>(tail)));
    std::copy_n(tail, count - i, data + i);
  }
}

}  // namespace packets

// data[0, count) = activation(data) in place; false, and nothing done, for
// the activations without an array form.
inline bool ActivateFloats(const ActivationSpec& act, float* data, int64_t count) {
  if (!arrays::HasArrayForm(act.kind)) return false;
  // The sigmoid family in one pass of packets (silu gates every Mamba block).
  if (act.kind == Activation::kSilu) {
    packets::Map(data, count, [](const packets::Packet& z) {
      return Eigen::internal::pmul(z, packets::Sigmoid(z));
    });
    return true;
  }
  if (act.kind == Activation::kSigmoid) {
    packets::Map(data, count, packets::Sigmoid);
    return true;
  }
  alignas(64) float z[arrays::kChunk];
  for (int64_t begin = 0; begin < count; begin += arrays::kChunk) {
    const int64_t n = std::min(arrays::kChunk, count - begin);
    std::copy_n(data + begin, n, z);
    arrays::Activate(act, arrays::Chunk(z, n));
    std::copy_n(z, n, data + begin);
  }
  return true;
}

// dz[0, count) = dy * activation'(operand); false, and nothing done, where
// the derivative has no array form.
inline bool ActivationGradFloats(const ActivationSpec& act, const float* dy,
                                 const float* operand, int64_t count, float* dz) {
  if (!arrays::HasArrayForm(act.kind)) return false;
  alignas(64) float g[arrays::kChunk];
  alignas(64) float v[arrays::kChunk];
  for (int64_t begin = 0; begin < count; begin += arrays::kChunk) {
    const int64_t n = std::min(arrays::kChunk, count - begin);
    std::copy_n(dy + begin, n, g);
    std::copy_n(operand + begin, n, v);
    arrays::ScaleByDerivative(act, arrays::Chunk(g, n), arrays::Chunk(v, n));
    std::copy_n(g, n, dz + begin);
  }
  return true;
}

}  // namespace TF_CONV1D_LEVEL_NAMESPACE
}  // namespace conv1d

#endif  // TF_CONV1D_OP_CORE_ACTIVATION_ARRAYS_H_
