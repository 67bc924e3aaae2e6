// Forward pass on the GPU: one implicit GEMM per launch,
//   z[(n, o), co] = sum over (k, c) of x[n, o * stride - pad + k * dilation, c]
//                   * filter[k, c, co]
// with rows (n, o) flattened over the batch, the reduction index k * Cin + c
// matching the Keras filter layout, and bias + activation in the epilogue.
// NCW input is first transposed to NWC in the workspace.
#include "cc/kernels/core/conv1d_gpu.h"
#include "cc/kernels/core/conv1d_gpu_common.h"
#include "cc/kernels/core/dtypes.h"
#include "cc/kernels/core/conv1d_gpu_layout.h"
#include "cc/kernels/core/conv1d_gpu_passes.h"
#include "cc/kernels/core/gpu_tile_gemm.h"

namespace conv1d {
namespace gpu {
namespace {

template <typename T>
struct ForwardArgs {
  const T* x;       // NWC [batch, in_steps, in_channels]
  const T* filter;  // [kernel_size * in_channels, out_channels]
  const T* bias;    // [out_channels] or null
  T* output;        // the op's layout
  T* preactivation; // same, or null
  int64_t rows;     // batch * out_steps
  int64_t out_steps, in_steps, stride, dilation, pad_left;
  int64_t out_channel_stride;  // 1 (NWC) or out_steps (NCW)
  int32_t in_channels, out_channels, reduction;
  FastDivmod by_in_channels;
  ActivationSpec act;
};

// Loads of one block: A = im2col rows of x (contiguous along the
// reduction: K-contiguous), B = filter rows (contiguous along channels).
// Groups of kVec elements are single 16-byte loads when kVectorLoads (the
// channel counts are multiples of kVec), else gathered element by element.
template <typename T, bool kVectorLoads, class Eng>
struct ForwardTiles {
  using Shape = TileShape<T>;
  static constexpr int kM = Shape::kM, kN = Shape::kN, kK = Shape::kK;
  static constexpr int kVec = VectorWidth<T>();
  using AMap = TileMap<kM, kK, kVec, Shape::kThreads>;  // (row, reduction)
  using BMap = TileMap<kK, kN, kVec, Shape::kThreads>;  // (reduction, channel)
  struct Fragment {
    Pack<T, kVec> a[AMap::kPerThread];
    Pack<T, kVec> b[BMap::kPerThread];
  };

  const ForwardArgs<T>& p;
  int64_t m0;
  int n0;
  const int64_t* row_x;      // offset of the row's batch item in x
  const int64_t* row_start;  // input step of tap 0

  __device__ __forceinline__ void Prepare(int64_t, int) {}

  __device__ __forceinline__ void Load(int64_t chunk, int, Fragment& f) const {
    const int base = static_cast<int>(chunk) * kK;
#pragma unroll
    for (int i = 0; i < AMap::kPerThread; ++i) {
      f.a[i] = Pack<T, kVec>{};
      if (!AMap::Active(i)) continue;
      const int r = AMap::Outer(i);
      const int kk = base + AMap::Inner(i);
      if (m0 + r >= p.rows || kk >= p.reduction) continue;
      int k = static_cast<int>(p.by_in_channels.Div(kk));
      int c = kk - k * p.in_channels;
      const T* item = p.x + row_x[r];
      if (kVectorLoads) {  // the group lies in one tap
        const int64_t step = row_start[r] + k * p.dilation;
        if (step >= 0 && step < p.in_steps) {
          f.a[i] = LoadPack<T, kVec>(item + step * p.in_channels + c);
        }
      } else {
#pragma unroll
        for (int e = 0; e < kVec; ++e) {
          if (kk + e >= p.reduction) break;
          const int64_t step = row_start[r] + k * p.dilation;
          if (step >= 0 && step < p.in_steps) f.a[i].v[e] = item[step * p.in_channels + c];
          if (++c == p.in_channels) {
            c = 0;
            ++k;
          }
        }
      }
    }
#pragma unroll
    for (int i = 0; i < BMap::kPerThread; ++i) {
      f.b[i] = Pack<T, kVec>{};
      if (!BMap::Active(i)) continue;
      const int kk = base + BMap::Outer(i);
      const int co = n0 + BMap::Inner(i);
      if (kk >= p.reduction || co >= p.out_channels) continue;
      const T* src = p.filter + static_cast<int64_t>(kk) * p.out_channels + co;
      if (kVectorLoads) {
        f.b[i] = LoadPack<T, kVec>(src);
      } else {
#pragma unroll
        for (int e = 0; e < kVec; ++e) {
          if (co + e < p.out_channels) f.b[i].v[e] = src[e];
        }
      }
    }
  }

  __device__ __forceinline__ void Store(const Fragment& f, T* as, T* bs) const {
    AMap::template StoreGroups<Eng::kAKMajor, Eng::kLdA>(f.a, as);
    static_assert(Eng::kBKMajor, "B is contiguous along channels");
    BMap::template StoreGroups<false, Eng::kLdB>(f.b, bs);
  }
};

template <typename T, bool kVectorLoads>
__global__ void __launch_bounds__(TileShape<T>::kThreads, 2)
    ForwardKernel(ForwardArgs<T> p) {
  using Shape = TileShape<T>;
  using Eng = typename EngineFor<T, true, false>::type;
  using Acc = typename Num<T>::Acc;
  using Tiles = SharedTiles<Eng, T>;
  constexpr int kM = Shape::kM, kN = Shape::kN;
  __shared__ __align__(128) unsigned char smem[Tiles::kBytes];
  __shared__ int64_t row_x[kM], row_start[kM], row_out[kM];

  const int64_t m0 = static_cast<int64_t>(blockIdx.x) * kM;
  const int n0 = static_cast<int>(blockIdx.y) * kN;
  for (int r = static_cast<int>(threadIdx.x); r < kM; r += Shape::kThreads) {
    const int64_t m = m0 + r;  // rows past the end are computed, never used
    const int64_t n = m / p.out_steps, o = m - n * p.out_steps;
    row_x[r] = n * p.in_steps * p.in_channels;
    row_start[r] = o * p.stride - p.pad_left;
    row_out[r] = p.out_channel_stride == 1 ? m * p.out_channels
                                           : n * p.out_channels * p.out_steps + o;
  }

  ForwardTiles<T, kVectorLoads, Eng> tiles{p, m0, n0, row_x, row_start};
  Eng engine;
  RunMainLoop<T>(tiles, engine, smem, CeilDiv(p.reduction, Shape::kK));
  Acc* cs = Tiles::C(smem);
  engine.Store(cs);
  __syncthreads();

  WithActivation(p.act.kind, [&](auto kind) {  // one epilogue per activation
    const ActivationSpec act{decltype(kind)::value, p.act.negative_slope};
    ForEachTileElement<kM, kN, Shape::kThreads>(p.out_channel_stride == 1, [&](int r, int c) {
      const int co = n0 + c;
      if (m0 + r >= p.rows || co >= p.out_channels) return;
      Acc z = cs[r * Eng::kLdC + c];
      if (p.bias != nullptr) z += Num<T>::ToAcc(p.bias[co]);
      const int64_t at = row_out[r] + co * p.out_channel_stride;
      if (p.preactivation != nullptr) p.preactivation[at] = Num<T>::FromAcc(z);
      p.output[at] = Num<T>::FromAcc(Activate<Acc>(act, z));
    });
  });
}

// Plans the workspace; with a null base only the size is meaningful.
template <typename T>
struct ForwardWorkspace {
  T* x_nwc;
  size_t bytes;
};
template <typename T>
ForwardWorkspace<T> PlanForward(const Conv1DGeometry& g, void* base) {
  WorkspaceArena arena(base);
  T* x_nwc = g.layout == Layout::kNCW ? arena.Take<T>(g.input_elements()) : nullptr;
  return {x_nwc, arena.used()};
}

}  // namespace
}  // namespace gpu

template <typename T>
size_t FusedConv1DForwardGpuWorkspaceBytes(const Conv1DGeometry& g,
                                           const ActivationSpec& act) {
  if (g.groups != 1) return gpu::PassesForGroups<T>(g).forward_workspace_bytes(g, act);
  return gpu::PlanForward<T>(g, nullptr).bytes;
}

template <typename T>
GpuStatus FusedConv1DForwardGpu(const Conv1DGeometry& g, const ActivationSpec& act,
                                const T* input, const T* filter, const T* bias,
                                T* output, T* preactivation, void* workspace,
                                cudaStream_t stream) {
  if (g.groups != 1) {
    return gpu::PassesForGroups<T>(g).forward(g, act, input, filter, bias, output,
                                              preactivation, workspace, stream);
  }
  using namespace gpu;
  using Shape = TileShape<T>;
  if (g.output_elements() == 0) return GpuStatus{};
  GpuStatus status = CheckSizes(g);
  if (!status.ok()) return status;
  const ForwardWorkspace<T> ws = PlanForward<T>(g, workspace);
  status = CheckWorkspace(workspace, ws.bytes);
  if (!status.ok()) return status;

  const T* x = input;
  if (ws.x_nwc != nullptr) {
    status = TransposeNcwToNwc(input, ws.x_nwc, g.batch, g.in_channels, g.in_steps, stream);
    if (!status.ok()) return status;
    x = ws.x_nwc;
  }

  ForwardArgs<T> args;
  args.x = x;
  args.filter = filter;
  args.bias = bias;
  args.output = output;
  args.preactivation = preactivation;
  args.rows = g.batch * g.out_steps;
  args.out_steps = g.out_steps;
  args.in_steps = g.in_steps;
  args.stride = g.stride;
  args.dilation = g.dilation;
  args.pad_left = g.pad_left;
  args.out_channel_stride = g.layout == Layout::kNWC ? 1 : g.out_steps;
  args.in_channels = static_cast<int32_t>(g.in_channels);
  args.out_channels = static_cast<int32_t>(g.out_channels);
  args.reduction = static_cast<int32_t>(g.kernel_size * g.in_channels);
  args.by_in_channels = FastDivmod::Make(static_cast<uint32_t>(g.in_channels > 0 ? g.in_channels : 1));
  args.act = act;

  dim3 grid;
  if (!MakeGrid(CeilDiv(args.rows, Shape::kM), CeilDiv(g.out_channels, Shape::kN), 1, &grid)) {
    return Unsupported("this many output steps or filters");
  }
  constexpr int kVec = VectorWidth<T>();
  const bool vectorized = g.in_channels % kVec == 0 && g.out_channels % kVec == 0 &&
                          Aligned16(x) && Aligned16(filter);
  const dim3 block(Shape::kThreads);
  return CheckLaunch(vectorized ? Launch(ForwardKernel<T, true>, grid, block, stream, args)
                                : Launch(ForwardKernel<T, false>, grid, block, stream, args),
                     "the fused Conv1D forward kernel");
}

#define CONV1D_INSTANTIATE(CpuT, T, name)                                            \
  template size_t FusedConv1DForwardGpuWorkspaceBytes<T>(const Conv1DGeometry&,      \
                                                         const ActivationSpec&);     \
  template GpuStatus FusedConv1DForwardGpu<T>(const Conv1DGeometry&,                 \
                                              const ActivationSpec&, const T*,       \
                                              const T*, const T*, T*, T*, void*,     \
                                              cudaStream_t);
CONV1D_DTYPES(CONV1D_INSTANTIATE)
#undef CONV1D_INSTANTIATE

}  // namespace conv1d
