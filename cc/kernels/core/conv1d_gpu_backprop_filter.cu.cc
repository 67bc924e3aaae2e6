// Filter and bias gradients on the GPU, deterministically:
//   dW[(k, c), co] = sum over (n, o) of x[n, o * stride - pad + k * dilation, c]
//                    * dz[(n, o), co]
// is an implicit GEMM whose reduction runs over all batch * out_steps output
// rows. The blocks of the first filter-row tile also add up the dz tiles they
// load, which gives the bias gradient (sum over (n, o) of dz) in the same
// pass; it is stored as filter row kernel_size * Cin. The reduction is split
// into a number of slices fixed by the problem size; every block writes its
// slice's partial tile with plain stores, and a second kernel adds the
// partials in a fixed order. No atomics: results are bitwise reproducible.
#include <algorithm>

#include "cc/kernels/core/conv1d_gpu.h"
#include "cc/kernels/core/conv1d_gpu_common.h"
#include "cc/kernels/core/dtypes.h"
#include "cc/kernels/core/conv1d_gpu_layout.h"
#include "cc/kernels/core/conv1d_gpu_passes.h"
#include "cc/kernels/core/gpu_partial_sums.h"
#include "cc/kernels/core/gpu_tile_gemm.h"

namespace conv1d {
namespace gpu {
namespace {

// Aim for this many blocks, each reducing at least kMinChunksPerSlice
// chunks, with the partial sums within kMaxPartialBytes.
constexpr int64_t kTargetBlocks = 1024;
constexpr int64_t kMinChunksPerSlice = 4;

template <typename T>
struct BackpropFilterArgs {
  using Acc = typename Num<T>::Acc;
  const T* x;     // NWC [batch, in_steps, in_channels]
  const T* dz;    // NWC [rows, out_channels]
  Acc* partials;  // [slices, reduction + 1, out_channels]
  int64_t rows;   // batch * out_steps
  int64_t out_steps, in_steps, stride, dilation, pad_left;
  int64_t chunks, slices;
  int32_t in_channels, out_channels, reduction;  // reduction = kernel_size * in_channels
  FastDivmod by_in_channels;
};

// Loads of one block: A = im2col of x transposed (rows are filter rows
// (k, c), contiguous along c), B = dz rows (contiguous along channels).
// Groups of kVec elements are single 16-byte loads when kVectorLoads. With
// sum_bias, each thread also keeps running sums of the dz columns it loads.
template <typename T, bool kVectorLoads, class Eng>
struct BackpropFilterTiles {
  using Shape = TileShape<T>;
  static constexpr int kM = Shape::kM, kN = Shape::kN, kK = Shape::kK;
  static constexpr int kVec = VectorWidth<T>();
  using AMap = TileMap<kK, kM, kVec, Shape::kThreads>;  // (output row, filter row)
  using BMap = TileMap<kK, kN, kVec, Shape::kThreads>;  // (output row, channel)
  static_assert(Eng::kAKMajor && Eng::kBKMajor, "K-major tiles");
  using Acc = typename Num<T>::Acc;
  // All of a thread's B groups share one column group: threadIdx % kColumnGroups.
  static constexpr int kColumnGroups = kN / kVec;
  static_assert(Shape::kThreads % kColumnGroups == 0, "fixed column group per thread");
  struct Fragment {
    Pack<T, kVec> a[AMap::kPerThread];
    Pack<T, kVec> b[BMap::kPerThread];
  };

  const BackpropFilterArgs<T>& p;
  int64_t first_chunk;
  int kk0;
  int n0;
  int64_t (*item)[kK];   // [slot][j]: offset of output row's batch item in x, -1 past the end
  int64_t (*start)[kK];  // [slot][j]: input step of tap 0
  bool sum_bias;
  Acc bias[kVec] = {};   // this thread's sums of its dz column group, chunk by chunk

  // The batch item and first input step of each output row of a chunk.
  __device__ __forceinline__ void Prepare(int64_t chunk, int slot) {
    const int j = static_cast<int>(threadIdx.x);
    if (j >= kK) return;
    const int64_t m = (first_chunk + chunk) * kK + j;
    if (m < p.rows) {
      const int64_t n = m / p.out_steps, o = m - n * p.out_steps;
      item[slot][j] = n * p.in_steps * p.in_channels;
      start[slot][j] = o * p.stride - p.pad_left;
    } else {
      item[slot][j] = -1;
    }
  }

  __device__ __forceinline__ void Load(int64_t chunk, int slot, Fragment& f) const {
#pragma unroll
    for (int i = 0; i < AMap::kPerThread; ++i) {
      f.a[i] = Pack<T, kVec>{};
      if (!AMap::Active(i)) continue;
      const int j = AMap::Outer(i);
      const int kk = kk0 + AMap::Inner(i);
      const int64_t x_item = item[slot][j];
      if (x_item < 0 || kk >= p.reduction) continue;
      int k = static_cast<int>(p.by_in_channels.Div(kk));
      int c = kk - k * p.in_channels;
      const T* src = p.x + x_item;
      if (kVectorLoads) {  // the group lies in one tap
        const int64_t step = start[slot][j] + k * p.dilation;
        if (step >= 0 && step < p.in_steps) {
          f.a[i] = LoadPack<T, kVec>(src + step * p.in_channels + c);
        }
      } else {
#pragma unroll
        for (int e = 0; e < kVec; ++e) {
          if (kk + e >= p.reduction) break;
          const int64_t step = start[slot][j] + k * p.dilation;
          if (step >= 0 && step < p.in_steps) f.a[i].v[e] = src[step * p.in_channels + c];
          if (++c == p.in_channels) {
            c = 0;
            ++k;
          }
        }
      }
    }
    const int64_t m_base = (first_chunk + chunk) * kK;
#pragma unroll
    for (int i = 0; i < BMap::kPerThread; ++i) {
      f.b[i] = Pack<T, kVec>{};
      if (!BMap::Active(i)) continue;
      const int64_t m = m_base + BMap::Outer(i);
      const int co = n0 + BMap::Inner(i);
      if (m >= p.rows || co >= p.out_channels) continue;
      const T* src = p.dz + m * p.out_channels + co;
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

  // Called once per chunk, in chunk order: the bias sums see every dz row
  // once, in a fixed order.
  __device__ __forceinline__ void Store(const Fragment& f, T* as, T* bs) {
    AMap::template StoreGroups<false, Eng::kLdA>(f.a, as);
    BMap::template StoreGroups<false, Eng::kLdB>(f.b, bs);
    if (!sum_bias) return;
#pragma unroll
    for (int i = 0; i < BMap::kPerThread; ++i) {
      if (!BMap::Active(i)) continue;
#pragma unroll
      for (int e = 0; e < kVec; ++e) bias[e] += Num<T>::ToAcc(f.b[i].v[e]);
    }
  }
};

// Grid: (filter-row tiles, channel tiles, slices).
template <typename T, bool kVectorLoads>
__global__ void __launch_bounds__(TileShape<T>::kThreads, 2)
    BackpropFilterKernel(BackpropFilterArgs<T> p) {
  using Shape = TileShape<T>;
  using Eng = typename EngineFor<T, false, false>::type;
  using Acc = typename Num<T>::Acc;
  using Tiles = SharedTiles<Eng, T>;
  constexpr int kM = Shape::kM, kN = Shape::kN, kK = Shape::kK;
  __shared__ __align__(128) unsigned char smem[Tiles::kBytes];
  __shared__ int64_t item[2][kK], start[2][kK];

  const int kk0 = static_cast<int>(blockIdx.x) * kM;
  const int n0 = static_cast<int>(blockIdx.y) * kN;
  const int64_t slice = blockIdx.z;
  const int64_t first = SliceBegin(slice, p.chunks, p.slices);
  const int64_t last = SliceBegin(slice + 1, p.chunks, p.slices);

  using Operands = BackpropFilterTiles<T, kVectorLoads, Eng>;
  const bool sum_bias = blockIdx.x == 0;  // uniform across the block
  Operands tiles{p, first, kk0, n0, item, start, sum_bias};
  Eng engine;
  RunMainLoop<T>(tiles, engine, smem, last - first);
  Acc* cs = Tiles::C(smem);
  engine.Store(cs);
  __syncthreads();

  Acc* out = p.partials + slice * (p.reduction + 1) * p.out_channels;
  ForEachTileElement<kM, kN, Shape::kThreads>(true, [&](int r, int c) {
    const int kk = kk0 + r, co = n0 + c;
    if (kk >= p.reduction || co >= p.out_channels) return;
    out[static_cast<int64_t>(kk) * p.out_channels + co] = cs[r * Eng::kLdC + c];
  });
  if (!sum_bias) return;

  // Bias row: the threads' column sums, added across threads in a fixed order.
  constexpr int kGroups = Operands::kColumnGroups, kVec = VectorWidth<T>();
  constexpr int kSharers = Shape::kThreads / kGroups;  // threads per column group
  static_assert(kSharers * kN * sizeof(Acc) <= Tiles::kBytes, "bias sums fit");
  __syncthreads();  // the epilogue has read the C tile
  Acc* sums = Tiles::C(smem);  // [kSharers][kN]
  const int t = static_cast<int>(threadIdx.x);
#pragma unroll
  for (int e = 0; e < kVec; ++e) sums[t / kGroups * kN + t % kGroups * kVec + e] = tiles.bias[e];
  __syncthreads();
  const int co = n0 + t;
  if (t < kN && co < p.out_channels) {
    Acc sum = Acc(0);
    for (int q = 0; q < kSharers; ++q) sum += sums[q * kN + t];
    out[static_cast<int64_t>(p.reduction) * p.out_channels + co] = sum;
  }
}

// Filter-row tiles; at least one, whose blocks also compute the bias gradient.
int64_t RowTiles(int64_t reduction, int64_t tile) {
  return reduction > 0 ? CeilDiv(reduction, tile) : 1;
}

template <typename T>
struct BackpropFilterPlan {
  using Acc = typename Num<T>::Acc;
  int64_t chunks = 0, slices = 1, per_slice = 0;
  T* x_nwc = nullptr;
  T* dz = nullptr;
  Acc* partials = nullptr;
  size_t bytes = 0;
};

template <typename T>
BackpropFilterPlan<T> PlanBackpropFilter(const Conv1DGeometry& g, const ActivationSpec& act,
                                         void* base) {
  using Shape = TileShape<T>;
  using Acc = typename Num<T>::Acc;
  BackpropFilterPlan<T> plan;
  const int64_t reduction = g.kernel_size * g.in_channels;
  plan.per_slice = (reduction + 1) * g.out_channels;  // + the bias row
  plan.chunks = CeilDiv(g.batch * g.out_steps, Shape::kK);
  const int64_t tiles = RowTiles(reduction, Shape::kM) * CeilDiv(g.out_channels, Shape::kN);
  const int64_t by_memory =
      kMaxPartialBytes / (plan.per_slice * static_cast<int64_t>(sizeof(Acc)));
  plan.slices = std::max<int64_t>(
      1, std::min({CeilDiv(kTargetBlocks, tiles), CeilDiv(plan.chunks, kMinChunksPerSlice),
                   by_memory, int64_t{65535}}));
  WorkspaceArena arena(base);
  if (g.layout == Layout::kNCW) plan.x_nwc = arena.Take<T>(g.input_elements());
  if (!GradOutputIsDz(act, g.layout)) plan.dz = arena.Take<T>(g.output_elements());
  plan.partials = arena.Take<Acc>(plan.slices * plan.per_slice);
  plan.bytes = arena.used();
  return plan;
}

}  // namespace
}  // namespace gpu

template <typename T>
size_t FusedConv1DBackpropFilterGpuWorkspaceBytes(const Conv1DGeometry& g,
                                                  const ActivationSpec& act) {
  if (g.groups != 1) return gpu::PassesForGroups<T>(g).backprop_filter_workspace_bytes(g, act);
  return gpu::PlanBackpropFilter<T>(g, act, nullptr).bytes;
}

template <typename T>
GpuStatus FusedConv1DBackpropFilterGpu(const Conv1DGeometry& g, const ActivationSpec& act,
                                       const T* input, const T* grad_output,
                                       const T* operand, T* grad_filter, T* grad_bias,
                                       void* workspace, cudaStream_t stream) {
  if (g.groups != 1) {
    return gpu::PassesForGroups<T>(g).backprop_filter(g, act, input, grad_output, operand,
                                                      grad_filter, grad_bias, workspace, stream);
  }
  using namespace gpu;
  using Shape = TileShape<T>;
  GpuStatus status = CheckSizes(g);
  if (!status.ok()) return status;
  const BackpropFilterPlan<T> plan = PlanBackpropFilter<T>(g, act, workspace);
  status = CheckWorkspace(workspace, plan.bytes);
  if (!status.ok()) return status;

  const T* x = input;
  if (plan.x_nwc != nullptr) {
    status = TransposeNcwToNwc(input, plan.x_nwc, g.batch, g.in_channels, g.in_steps, stream);
    if (!status.ok()) return status;
    x = plan.x_nwc;
  }
  const T* dz = grad_output;
  if (plan.dz != nullptr) {
    status = ActivationGradToNwc(act, g.layout, grad_output, operand, plan.dz, g.batch,
                                 g.out_steps, g.out_channels, stream);
    if (!status.ok()) return status;
    dz = plan.dz;
  }

  BackpropFilterArgs<T> args;
  args.x = x;
  args.dz = dz;
  args.partials = plan.partials;
  args.rows = g.batch * g.out_steps;
  args.out_steps = g.out_steps;
  args.in_steps = g.in_steps;
  args.stride = g.stride;
  args.dilation = g.dilation;
  args.pad_left = g.pad_left;
  args.chunks = plan.chunks;
  args.slices = plan.slices;
  args.in_channels = static_cast<int32_t>(g.in_channels);
  args.out_channels = static_cast<int32_t>(g.out_channels);
  args.reduction = static_cast<int32_t>(g.kernel_size * g.in_channels);
  args.by_in_channels = FastDivmod::Make(static_cast<uint32_t>(g.in_channels > 0 ? g.in_channels : 1));

  dim3 grid;
  if (!MakeGrid(RowTiles(args.reduction, Shape::kM), CeilDiv(g.out_channels, Shape::kN),
                plan.slices, &grid)) {
    return Unsupported("this many filters");
  }
  constexpr int kVec = VectorWidth<T>();
  const bool vectorized = g.in_channels % kVec == 0 && g.out_channels % kVec == 0 &&
                          Aligned16(x) && Aligned16(dz);
  const dim3 block(Shape::kThreads);
  status = CheckLaunch(vectorized ? Launch(BackpropFilterKernel<T, true>, grid, block, stream, args)
                                  : Launch(BackpropFilterKernel<T, false>, grid, block, stream, args),
                       "the fused Conv1D filter-gradient kernel");
  if (!status.ok()) return status;

  return SumPartials<T>(plan.partials, plan.slices, plan.per_slice,
                        plan.per_slice - g.out_channels, grad_filter, grad_bias, stream);
}

#define CONV1D_INSTANTIATE(CpuT, T, name)                                                 \
  template size_t FusedConv1DBackpropFilterGpuWorkspaceBytes<T>(const Conv1DGeometry&,    \
                                                                const ActivationSpec&);   \
  template GpuStatus FusedConv1DBackpropFilterGpu<T>(const Conv1DGeometry&,               \
                                                     const ActivationSpec&, const T*,     \
                                                     const T*, const T*, T*, T*, void*,   \
                                                     cudaStream_t);
CONV1D_DTYPES(CONV1D_INSTANTIATE)
#undef CONV1D_INSTANTIATE

}  // namespace conv1d
