// Input gradient on the GPU, as in the CPU core without multiplications by
// zeros: input steps i are split into the stride classes i = f + r * stride
// (f < min(stride, in_steps)). All steps of a class receive contributions
// from the same taps, k = k0 + j * (stride / g) with g = gcd(stride,
// dilation), through output steps o = b(i) - j * (dilation / g), where
// b(i) = (i + pad - k0 * dilation) / stride is exact. Per class that is an
// implicit GEMM
//   dx[(n, r), c] = sum over (j, co) of dz[n, b - j * dilation / g, co]
//                   * filter[k0 + j * stride / g, c, co],
// and one launch covers all classes (block -> class, row tile).
//
// With few input channels (raw audio, stereo, a few sensors) that GEMM's
// 64-column output tiles are nearly empty. Those layers take the col2im
// form instead: one GEMM over out_channels, the forward kernel's with one
// tap, gives every tap's contribution
//   columns[(n, o), (k, c)] = sum over co of dz[n, o, co] * filter[k, c, co],
// and a gather adds, for each input step, the columns of its class's taps.
// dz = grad_output * activation'(operand) is first written NWC to the
// workspace, except for a linear activation in NWC where it is grad_output.
#include <algorithm>
#include <type_traits>

#include "cc/kernels/core/conv1d_gpu.h"
#include "cc/kernels/core/conv1d_gpu_common.h"
#include "cc/kernels/core/dtypes.h"
#include "cc/kernels/core/conv1d_gpu_layout.h"
#include "cc/kernels/core/conv1d_gpu_passes.h"
#include "cc/kernels/core/gpu_grid_stride.h"
#include "cc/kernels/core/gpu_tile_gemm.h"

namespace conv1d {
namespace gpu {
namespace {

template <typename T>
struct BackpropInputArgs {
  const T* dz;      // NWC [batch, out_steps, out_channels]
  const T* filter;  // [kernel_size, in_channels, out_channels]
  T* grad_input;    // the op's layout
  int64_t batch, in_steps, out_steps, kernel_size, stride, dilation, pad_left;
  int64_t stride_g, dilation_g, inverse;  // stride / g, dilation / g, its inverse mod stride / g
  int64_t gcd;
  int64_t tiles_per_class;
  int64_t in_channel_stride;  // 1 (NWC) or in_steps (NCW)
  int32_t in_channels, out_channels;
  FastDivmod by_out_channels;
};

// a * b mod m for a, b in [0, m), m < 2^62, without 128-bit arithmetic.
__device__ __forceinline__ int64_t MulMod(int64_t a, int64_t b, int64_t m) {
  int64_t result = 0;
  while (b > 0) {
    if (b & 1) {
      result += a;
      if (result >= m) result -= m;
    }
    a += a;
    if (a >= m) a -= m;
    b >>= 1;
  }
  return result;
}

// The taps of stride class f (input steps f + r * stride): the first, k0
// with k0 * dilation = f + pad (mod stride), and how many (0: none reach
// the class).
struct ClassTaps {
  int64_t first = 0, count = 0;
};
template <typename Args>
__device__ __forceinline__ ClassTaps TapsOfClass(const Args& p, int64_t f) {
  ClassTaps taps;
  const int64_t phase = (f + p.pad_left % p.stride) % p.stride;
  if (phase % p.gcd != 0) return taps;
  taps.first = MulMod(phase / p.gcd, p.inverse, p.stride_g);
  if (taps.first < p.kernel_size) taps.count = (p.kernel_size - 1 - taps.first) / p.stride_g + 1;
  return taps;
}

// Loads of one block: A = dz windows (contiguous along the reduction index
// j * Cout + co), B = the class's filter taps transposed (contiguous along
// the reduction too, so the tensor-core engine takes B N-major). Groups of
// kVec elements are single 16-byte loads when kVectorLoads (Cout % kVec == 0).
template <typename T, bool kVectorLoads, class Eng>
struct BackpropInputTiles {
  using Shape = TileShape<T>;
  static constexpr int kM = Shape::kM, kN = Shape::kN, kK = Shape::kK;
  static constexpr int kVec = VectorWidth<T>();
  using AMap = TileMap<kM, kK, kVec, Shape::kThreads>;  // (row, reduction)
  using BMap = TileMap<kN, kK, kVec, Shape::kThreads>;  // (channel, reduction)
  struct Fragment {
    Pack<T, kVec> a[AMap::kPerThread];
    Pack<T, kVec> b[BMap::kPerThread];
  };

  const BackpropInputArgs<T>& p;
  int64_t rows;       // of this class
  int64_t m0;
  int n0;
  int64_t first_tap;  // k0
  int32_t reduction;  // taps * out_channels
  const int64_t* row_dz;    // offset of the row's batch item in dz
  const int64_t* row_base;  // b: the output step of tap k0

  __device__ __forceinline__ void Prepare(int64_t, int) {}

  __device__ __forceinline__ void Load(int64_t chunk, int, Fragment& f) const {
    const int base = static_cast<int>(chunk) * kK;
#pragma unroll
    for (int i = 0; i < AMap::kPerThread; ++i) {
      f.a[i] = Pack<T, kVec>{};
      if (!AMap::Active(i)) continue;
      const int r = AMap::Outer(i);
      const int kk = base + AMap::Inner(i);
      if (m0 + r >= rows || kk >= reduction) continue;
      int j = static_cast<int>(p.by_out_channels.Div(kk));
      int co = kk - j * p.out_channels;
      const T* item = p.dz + row_dz[r];
      if (kVectorLoads) {  // the group lies in one tap
        const int64_t o = row_base[r] - j * p.dilation_g;
        if (o >= 0 && o < p.out_steps) {
          f.a[i] = LoadPack<T, kVec>(item + o * p.out_channels + co);
        }
      } else {
#pragma unroll
        for (int e = 0; e < kVec; ++e) {
          if (kk + e >= reduction) break;
          const int64_t o = row_base[r] - j * p.dilation_g;
          if (o >= 0 && o < p.out_steps) f.a[i].v[e] = item[o * p.out_channels + co];
          if (++co == p.out_channels) {
            co = 0;
            ++j;
          }
        }
      }
    }
#pragma unroll
    for (int i = 0; i < BMap::kPerThread; ++i) {
      f.b[i] = Pack<T, kVec>{};
      if (!BMap::Active(i)) continue;
      const int c = n0 + BMap::Outer(i);
      const int kk = base + BMap::Inner(i);
      if (c >= p.in_channels || kk >= reduction) continue;
      int j = static_cast<int>(p.by_out_channels.Div(kk));
      int co = kk - j * p.out_channels;
      if (kVectorLoads) {
        const int64_t k = first_tap + j * p.stride_g;
        f.b[i] = LoadPack<T, kVec>(p.filter + (k * p.in_channels + c) * p.out_channels + co);
      } else {
#pragma unroll
        for (int e = 0; e < kVec; ++e) {
          if (kk + e >= reduction) break;
          const int64_t k = first_tap + j * p.stride_g;
          f.b[i].v[e] = p.filter[(k * p.in_channels + c) * p.out_channels + co];
          if (++co == p.out_channels) {
            co = 0;
            ++j;
          }
        }
      }
    }
  }

  __device__ __forceinline__ void Store(const Fragment& f, T* as, T* bs) const {
    AMap::template StoreGroups<Eng::kAKMajor, Eng::kLdA>(f.a, as);
    BMap::template StoreGroups<Eng::kBKMajor, Eng::kLdB>(f.b, bs);
  }
};

template <typename T, bool kVectorLoads>
__global__ void __launch_bounds__(TileShape<T>::kThreads, 2)
    BackpropInputKernel(BackpropInputArgs<T> p) {
  using Shape = TileShape<T>;
  using Eng = typename EngineFor<T, true, true>::type;
  using Acc = typename Num<T>::Acc;
  using Tiles = SharedTiles<Eng, T>;
  constexpr int kM = Shape::kM, kN = Shape::kN;
  __shared__ __align__(128) unsigned char smem[Tiles::kBytes];
  __shared__ int64_t row_dz[kM], row_base[kM], row_out[kM];

  // Block -> (stride class f, row tile); classes with fewer rows than the
  // largest leave their last tiles idle.
  const int64_t f = blockIdx.x / p.tiles_per_class;
  const int64_t m0 = blockIdx.x % p.tiles_per_class * kM;
  const int64_t class_steps = (p.in_steps - 1 - f) / p.stride + 1;
  const int64_t rows = p.batch * class_steps;
  if (m0 >= rows) return;  // uniform across the block
  const int n0 = static_cast<int>(blockIdx.y) * kN;

  const ClassTaps class_taps = TapsOfClass(p, f);
  const int64_t first_tap = class_taps.first, taps = class_taps.count;

  for (int r = static_cast<int>(threadIdx.x); r < kM; r += Shape::kThreads) {
    const int64_t m = m0 + r;
    const int64_t n = m / class_steps;
    const int64_t i = f + (m - n * class_steps) * p.stride;
    row_dz[r] = n * p.out_steps * p.out_channels;
    row_base[r] = taps > 0 ? (i + p.pad_left - first_tap * p.dilation) / p.stride : 0;
    row_out[r] = p.in_channel_stride == 1 ? (n * p.in_steps + i) * p.in_channels
                                          : n * p.in_channels * p.in_steps + i;
  }

  const int32_t reduction = static_cast<int32_t>(taps * p.out_channels);
  BackpropInputTiles<T, kVectorLoads, Eng> tiles{p, rows, m0, n0, first_tap, reduction, row_dz,
                                         row_base};
  Eng engine;
  RunMainLoop<T>(tiles, engine, smem, CeilDiv(reduction, Shape::kK));
  Acc* cs = Tiles::C(smem);
  engine.Store(cs);
  __syncthreads();

  ForEachTileElement<kM, kN, Shape::kThreads>(p.in_channel_stride == 1, [&](int r, int c) {
    const int ci = n0 + c;
    if (m0 + r >= rows || ci >= p.in_channels) return;
    p.grad_input[row_out[r] + ci * p.in_channel_stride] = Num<T>::FromAcc(cs[r * Eng::kLdC + c]);
  });
}

// The col2im form's second step: dx[n, i, c] = the sum, over the taps k of
// i's class in ascending order, of columns[n, o, k, c] with o = (i + pad -
// k * dilation) / stride, for the o inside the output. One thread per
// element of dx.
template <typename T>
__global__ void __launch_bounds__(kStrideThreads)
    GatherColumnsKernel(BackpropInputArgs<T> p, const T* columns, int64_t elements) {
  using Acc = typename Num<T>::Acc;
  const int64_t row_length = p.kernel_size * p.in_channels;  // one row (n, o) of columns
  ForEachStrided(elements, [&](int64_t e) {
    // e runs over dx in the op's layout, so the stores are coalesced.
    int64_t n, i, c;
    if (p.in_channel_stride == 1) {  // NWC
      c = e % p.in_channels;
      const int64_t ni = e / p.in_channels;
      n = ni / p.in_steps;
      i = ni - n * p.in_steps;
    } else {
      i = e % p.in_steps;
      const int64_t nc = e / p.in_steps;
      n = nc / p.in_channels;
      c = nc - n * p.in_channels;
    }
    const ClassTaps taps = TapsOfClass(p, i % p.stride);
    const int64_t base = (i + p.pad_left - taps.first * p.dilation) / p.stride;
    const T* item = columns + n * p.out_steps * row_length + c;
    Acc sum = Acc(0);
    for (int64_t j = 0; j < taps.count; ++j) {
      const int64_t o = base - j * p.dilation_g;
      if (o < 0) break;  // o falls as j grows
      if (o >= p.out_steps) continue;
      sum += Num<T>::ToAcc(item[o * row_length + (taps.first + j * p.stride_g) * p.in_channels]);
    }
    p.grad_input[e] = Num<T>::FromAcc(sum);
  });
}

int64_t Gcd(int64_t a, int64_t b) {
  while (b != 0) {
    const int64_t t = a % b;
    a = b;
    b = t;
  }
  return a;
}

// x^-1 mod m for gcd(x, m) = 1 (0 when m = 1), by the extended Euclid.
int64_t InverseMod(int64_t x, int64_t m) {
  if (m == 1) return 0;
  int64_t r0 = m, r1 = x % m, t0 = 0, t1 = 1;
  while (r1 != 0) {
    const int64_t q = r0 / r1;
    int64_t tmp = r0 - q * r1;
    r0 = r1;
    r1 = tmp;
    tmp = t0 - q * t1;  // |t| <= m, so no overflow
    t0 = t1;
    t1 = tmp;
  }
  return t0 < 0 ? t0 + m : t0;
}

// The col2im form serves layers of 1 to kFewChannels input channels and at
// least kMinColumnTaps taps (so its GEMM's output tiles are at least that
// many times fuller than the stride classes'), whose columns fit
// kMaxColumnsBytes, in float and double: in half and bfloat16 the columns
// would be rounded before the gather adds them, a second rounding the
// GEMM does not make.
constexpr int64_t kFewChannels = 4;
constexpr int64_t kMinColumnTaps = 4;
constexpr int64_t kMaxColumnsBytes = int64_t{256} << 20;

template <typename T>
bool TakesColumns(const Conv1DGeometry& g) {
  if (!std::is_same<T, float>::value && !std::is_same<T, double>::value) return false;
  if (g.in_channels < 1 || g.in_channels > kFewChannels || g.kernel_size < kMinColumnTaps) {
    return false;
  }
  // The op's shapes keep every product of a tensor's dimensions in int64.
  const int64_t rows = g.batch * g.out_steps;
  const int64_t row_length = g.kernel_size * g.in_channels;
  return rows > 0 && g.out_channels > 0 &&
         row_length <= kMaxColumnsBytes / static_cast<int64_t>(sizeof(T)) / rows;
}

// The forward geometry of the columns' GEMM: dz as a one-tap convolution's
// input, out_channels -> kernel_size * in_channels.
Conv1DGeometry ColumnsGeometry(const Conv1DGeometry& g) {
  Conv1DGeometry c;
  c.batch = g.batch;
  c.in_steps = g.out_steps;
  c.in_channels = g.out_channels;
  c.kernel_size = 1;
  c.out_channels = g.kernel_size * g.in_channels;
  c.kernel_extent = 1;
  c.out_steps = g.out_steps;
  return c;  // stride 1, dilation 1, VALID, NWC, one group
}

template <typename T>
struct BackpropInputWorkspace {
  T* dz;
  T* filter_t;  // col2im: the filter as [out_channels, kernel_size * in_channels]
  T* columns;   // col2im: [batch * out_steps, kernel_size * in_channels]
  size_t bytes;
};
template <typename T>
BackpropInputWorkspace<T> PlanBackpropInput(const Conv1DGeometry& g, const ActivationSpec& act,
                                            void* base) {
  WorkspaceArena arena(base);
  BackpropInputWorkspace<T> ws{};
  ws.dz = GradOutputIsDz(act, g.layout) ? nullptr : arena.Take<T>(g.output_elements());
  if (TakesColumns<T>(g)) {
    ws.filter_t = arena.Take<T>(g.kernel_size * g.in_channels * g.out_channels);
    ws.columns = arena.Take<T>(g.batch * g.out_steps * g.kernel_size * g.in_channels);
  }
  ws.bytes = arena.used();
  return ws;
}

template <typename T>
GpuStatus BackpropInputByColumns(const Conv1DGeometry& g, const BackpropInputArgs<T>& args,
                                 const BackpropInputWorkspace<T>& ws, cudaStream_t stream) {
  const int64_t row_length = g.kernel_size * g.in_channels;
  // [kernel_size * in_channels, out_channels] -> [out_channels, kernel_size * in_channels]:
  // the one-tap filter [1, out_channels, row_length] in the forward's layout.
  GpuStatus status = TransposeNcwToNwc(args.filter, ws.filter_t, 1, row_length, g.out_channels,
                                       stream);
  if (!status.ok()) return status;
  status = FusedConv1DForwardGpu<T>(ColumnsGeometry(g), ActivationSpec{}, args.dz, ws.filter_t,
                                    nullptr, ws.columns, nullptr, nullptr, stream);
  if (!status.ok()) return status;
  const int64_t elements = g.input_elements();
  return CheckLaunch(Launch(GatherColumnsKernel<T>, StrideGrid(elements), dim3(kStrideThreads),
                            stream, args, static_cast<const T*>(ws.columns), elements),
                     "the fused Conv1D input gradient's gather");
}

}  // namespace
}  // namespace gpu

template <typename T>
size_t FusedConv1DBackpropInputGpuWorkspaceBytes(const Conv1DGeometry& g,
                                                 const ActivationSpec& act) {
  if (g.groups != 1) return gpu::PassesForGroups<T>(g).backprop_input_workspace_bytes(g, act);
  return gpu::PlanBackpropInput<T>(g, act, nullptr).bytes;
}

template <typename T>
GpuStatus FusedConv1DBackpropInputGpu(const Conv1DGeometry& g, const ActivationSpec& act,
                                      const T* filter, const T* grad_output,
                                      const T* operand, T* grad_input, void* workspace,
                                      cudaStream_t stream) {
  if (g.groups != 1) {
    return gpu::PassesForGroups<T>(g).backprop_input(g, act, filter, grad_output, operand,
                                                     grad_input, workspace, stream);
  }
  using namespace gpu;
  using Shape = TileShape<T>;
  if (g.input_elements() == 0) return GpuStatus{};
  GpuStatus status = CheckSizes(g);
  if (!status.ok()) return status;
  const BackpropInputWorkspace<T> ws = PlanBackpropInput<T>(g, act, workspace);
  status = CheckWorkspace(workspace, ws.bytes);
  if (!status.ok()) return status;

  const T* dz = grad_output;
  if (ws.dz != nullptr) {
    status = ActivationGradToNwc(act, g.layout, grad_output, operand, ws.dz, g.batch,
                                 g.out_steps, g.out_channels, stream);
    if (!status.ok()) return status;
    dz = ws.dz;
  }

  BackpropInputArgs<T> args;
  args.dz = dz;
  args.filter = filter;
  args.grad_input = grad_input;
  args.batch = g.batch;
  args.in_steps = g.in_steps;
  args.out_steps = g.out_steps;
  args.kernel_size = g.kernel_size;
  args.stride = g.stride;
  args.dilation = g.dilation;
  args.pad_left = g.pad_left;
  args.gcd = Gcd(g.stride, g.dilation);
  args.stride_g = g.stride / args.gcd;
  args.dilation_g = g.dilation / args.gcd;
  args.inverse = InverseMod(args.dilation_g % args.stride_g, args.stride_g);
  args.in_channel_stride = g.layout == Layout::kNWC ? 1 : g.in_steps;
  args.in_channels = static_cast<int32_t>(g.in_channels);
  args.out_channels = static_cast<int32_t>(g.out_channels);
  args.by_out_channels = FastDivmod::Make(static_cast<uint32_t>(g.out_channels));

  if (ws.columns != nullptr) return BackpropInputByColumns<T>(g, args, ws, stream);

  // Classes f < min(stride, in_steps); the largest has ceil(in_steps / stride) steps.
  const int64_t classes = g.stride < g.in_steps ? g.stride : g.in_steps;
  const int64_t max_rows = g.batch * CeilDiv(g.in_steps, g.stride);
  args.tiles_per_class = CeilDiv(max_rows, Shape::kM);
  dim3 grid;
  if (args.tiles_per_class > 0x7fffffff / classes ||
      !MakeGrid(classes * args.tiles_per_class, CeilDiv(g.in_channels, Shape::kN), 1, &grid)) {
    return Unsupported("this many input steps or channels");
  }
  constexpr int kVec = VectorWidth<T>();
  const bool vectorized = g.out_channels % kVec == 0 && Aligned16(dz) && Aligned16(filter);
  const dim3 block(Shape::kThreads);
  return CheckLaunch(vectorized ? Launch(BackpropInputKernel<T, true>, grid, block, stream, args)
                                : Launch(BackpropInputKernel<T, false>, grid, block, stream, args),
                     "the fused Conv1D input-gradient kernel");
}

#define CONV1D_INSTANTIATE(CpuT, T, name)                                                \
  template size_t FusedConv1DBackpropInputGpuWorkspaceBytes<T>(const Conv1DGeometry&,    \
                                                               const ActivationSpec&);   \
  template GpuStatus FusedConv1DBackpropInputGpu<T>(const Conv1DGeometry&,               \
                                                    const ActivationSpec&, const T*,     \
                                                    const T*, const T*, T*, void*,       \
                                                    cudaStream_t);
CONV1D_DTYPES(CONV1D_INSTANTIATE)
#undef CONV1D_INSTANTIATE

}  // namespace conv1d
