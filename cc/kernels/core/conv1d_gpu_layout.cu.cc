// NCW -> NWC transposes and the activation-gradient pass (see
// conv1d_gpu_layout.h). Transposes go through a 32 x 32 shared tile so both
// the reads (along steps) and the writes (along channels) coalesce.
#include "cc/kernels/core/conv1d_gpu_layout.h"

#include <algorithm>

#include "cc/kernels/core/conv1d_gpu_common.h"
#include "cc/kernels/core/dtypes.h"
#include "cc/kernels/core/gpu_grid_stride.h"
#include "cc/kernels/core/gpu_tile_gemm.h"

namespace conv1d {
namespace gpu {
namespace {

constexpr int kTile = 32;
constexpr int kRowsPerPass = 8;  // blockDim = (kTile, kRowsPerPass)

template <typename T>
struct CopyOp {
  const T* src;
  __device__ __forceinline__ T operator()(int64_t i) const { return src[i]; }
};

template <typename T>
struct ActivationGradOp {
  const T* grad_output;
  const T* operand;
  ActivationSpec act;
  __device__ __forceinline__ T operator()(int64_t i) const {
    using A = typename Num<T>::Acc;
    A g = Num<T>::ToAcc(grad_output[i]);
    if (act.kind != Activation::kLinear) {
      g *= ActivationDerivative<A>(act, Num<T>::ToAcc(operand[i]));
    }
    return Num<T>::FromAcc(g);
  }
};

// dst[n, w, c] = op(index of [n, c, w]); one block per 32 x 32 tile.
template <typename T, class Op>
__global__ void __launch_bounds__(kTile* kRowsPerPass)
    TransposeKernel(Op op, T* dst, int64_t channels, int64_t steps,
                    int64_t channel_tiles, int64_t step_tiles) {
  __shared__ T tile[kTile][kTile + 1];
  const int64_t block = blockIdx.x;
  const int64_t step_tile = block % step_tiles;
  const int64_t channel_tile = block / step_tiles % channel_tiles;
  const int64_t n = block / step_tiles / channel_tiles;
  const int64_t c0 = channel_tile * kTile, w0 = step_tile * kTile;
  const int tx = static_cast<int>(threadIdx.x);
  for (int j = static_cast<int>(threadIdx.y); j < kTile; j += kRowsPerPass) {
    const int64_t c = c0 + j, w = w0 + tx;
    if (c < channels && w < steps) tile[j][tx] = op((n * channels + c) * steps + w);
  }
  __syncthreads();
  for (int j = static_cast<int>(threadIdx.y); j < kTile; j += kRowsPerPass) {
    const int64_t w = w0 + j, c = c0 + tx;
    if (c < channels && w < steps) dst[(n * steps + w) * channels + c] = tile[tx][j];
  }
}

template <typename T, class Op>
__global__ void __launch_bounds__(kStrideThreads)
    ElementwiseKernel(Op op, T* dst, int64_t count) {
  ForEachStrided(count, [&](int64_t i) { dst[i] = op(i); });
}

// The activation gradient in 16-byte packs, element for element as
// ActivationGradOp computes it: the pass is bound by memory, and loads of
// one 2-byte element per thread leave most of the bandwidth unused.
template <typename T>
__global__ void __launch_bounds__(kStrideThreads)
    ActivationGradPacksKernel(ActivationGradOp<T> op, T* dst, int64_t packs) {
  using A = typename Num<T>::Acc;
  constexpr int kV = VectorWidth<T>();
  WithActivation(op.act.kind, [&](auto kind) {  // one loop per activation
    const ActivationSpec act{decltype(kind)::value, op.act.negative_slope};
    ForEachStrided(packs, [&](int64_t i) {
      const int64_t at = i * kV;
      A g[kV];
      LoadRun<T, kV>(op.grad_output + at, g);
      if (act.kind != Activation::kLinear) {
        A z[kV];
        LoadRun<T, kV>(op.operand + at, z);
#pragma unroll
        for (int j = 0; j < kV; ++j) g[j] *= ActivationDerivative<A>(act, z[j]);
      }
      Pack<T, kV> out;
#pragma unroll
      for (int j = 0; j < kV; ++j) out.v[j] = Num<T>::FromAcc(g[j]);
      StorePack(dst + at, out);
    });
  });
}

template <typename T, class Op>
GpuStatus LaunchTranspose(const Op& op, T* dst, int64_t batch, int64_t channels,
                          int64_t steps, cudaStream_t stream) {
  if (batch == 0 || channels == 0 || steps == 0) return GpuStatus{};
  const int64_t channel_tiles = CeilDiv(channels, kTile);
  const int64_t step_tiles = CeilDiv(steps, kTile);
  dim3 grid;
  // Beyond 2^31 - 1 tiles the tensor would hold more than 2^41 elements.
  if (channel_tiles > 0x7fffffff / step_tiles ||
      !MakeGrid(batch * channel_tiles * step_tiles, 1, 1, &grid)) {
    return Unsupported("transposing a tensor this large");
  }
  return CheckLaunch(Launch(TransposeKernel<T, Op>, grid, dim3(kTile, kRowsPerPass), stream,
                            op, dst, channels, steps, channel_tiles, step_tiles),
                     "the NCW -> NWC transpose");
}

template <typename T, class Op>
GpuStatus LaunchElementwise(const Op& op, T* dst, int64_t count, cudaStream_t stream) {
  if (count == 0) return GpuStatus{};
  return CheckLaunch(Launch(ElementwiseKernel<T, Op>, StrideGrid(count), dim3(kStrideThreads),
                            stream, op, dst, count),
                     "the activation gradient");
}

}  // namespace

template <typename T>
GpuStatus TransposeNcwToNwc(const T* src, T* dst, int64_t batch, int64_t channels,
                            int64_t steps, cudaStream_t stream) {
  return LaunchTranspose(CopyOp<T>{src}, dst, batch, channels, steps, stream);
}

template <typename T>
GpuStatus ActivationGradToNwc(const ActivationSpec& act, Layout layout,
                              const T* grad_output, const T* operand, T* dz,
                              int64_t batch, int64_t steps, int64_t channels,
                              cudaStream_t stream) {
  const ActivationGradOp<T> op{grad_output, operand, act};
  if (layout == Layout::kNCW) return LaunchTranspose(op, dz, batch, channels, steps, stream);
  const int64_t count = batch * steps * channels;
  constexpr int kV = VectorWidth<T>();
  if (count % kV == 0 && Aligned16(grad_output) && Aligned16(operand) && Aligned16(dz)) {
    const int64_t packs = count / kV;
    if (packs == 0) return GpuStatus{};
    return CheckLaunch(Launch(ActivationGradPacksKernel<T>, StrideGrid(packs),
                              dim3(kStrideThreads), stream, op, dz, packs),
                       "the activation gradient");
  }
  return LaunchElementwise(op, dz, count, stream);
}

#define CONV1D_INSTANTIATE(CpuT, T, name)                                          \
  template GpuStatus TransposeNcwToNwc<T>(const T*, T*, int64_t, int64_t, int64_t, \
                                          cudaStream_t);                           \
  template GpuStatus ActivationGradToNwc<T>(const ActivationSpec&, Layout, const T*, \
                                            const T*, T*, int64_t, int64_t, int64_t, \
                                            cudaStream_t);
CONV1D_DTYPES(CONV1D_INSTANTIATE)
#undef CONV1D_INSTANTIATE

}  // namespace gpu
}  // namespace conv1d
