// Depthwise passes in 16-byte packs of channels (conv1d_gpu_depthwise_packed.h).
//
// Correlation (forward, stride-1 input gradient): a thread owns one pack of
// channels over kRunRows consecutive output rows of one batch item and keeps
// their sums in registers. The per-element loop is compiled once per
// activation (WithActivation) so the one that runs fits the instruction cache. Consecutive threads take consecutive packs, so a
// warp loads and stores 512 contiguous bytes. Per tap the thread loads the
// filter pack once and one input pack per row; the rows a run shares with
// the next tap and with neighbouring runs come from L1 and L2, so memory
// sees each input row about once. Sums run over the taps in order, the bias
// added last, as in the element-wise kernels.
//
// Filter gradient: a thread owns up to 4 channels (FilterGradPack), up to kTapsPerThread
// consecutive taps (the bias counting as tap kernel_size) and one slice of
// the rows (n, o). Per row it loads the dz pack once and one input pack per
// tap. Slices are summed afterwards in a fixed order (gpu_partial_sums.h), so
// the result is bitwise reproducible.
#include "cc/kernels/core/conv1d_gpu_depthwise_packed.h"

#include <algorithm>
#include <cstdint>

#include "cc/kernels/core/conv1d_gpu_common.h"
#include "cc/kernels/core/dtypes.h"
#include "cc/kernels/core/gpu_partial_sums.h"

namespace conv1d {
namespace gpu {
namespace {

constexpr int kThreads = 256;
constexpr int64_t kMaxBlocks = 65535;  // grid-stride beyond
constexpr int kRunRows = 4;
constexpr int kTapsPerThread = 8;
// Filter gradient: about this many threads in all, each summing at least
// kMinRowsPerSlice rows (fewer rows leave the partial sums the larger cost).
constexpr int64_t kTargetThreads = int64_t{1} << 17;
constexpr int64_t kMinRowsPerSlice = 32;

dim3 GridFor(int64_t threads) {  // threads >= 1
  dim3 grid;
  MakeGrid(std::min(CeilDiv(threads, kThreads), kMaxBlocks), 1, 1, &grid);
  return grid;
}

template <typename T>
struct CorrelateArgs : PackedCorrelation<T> {
  int64_t packs, runs, count;  // count = batch * runs * packs
};

template <typename T>
__global__ void __launch_bounds__(kThreads) PackedCorrelateKernel(CorrelateArgs<T> p) {
  using Acc = typename Num<T>::Acc;
  constexpr int kV = VectorWidth<T>();
  WithActivation(p.act.kind, [&](auto kind) {
    const ActivationSpec act{decltype(kind)::value, p.act.negative_slope};
    const int64_t step = static_cast<int64_t>(gridDim.x) * kThreads;
    for (int64_t index = static_cast<int64_t>(blockIdx.x) * kThreads + threadIdx.x;
         index < p.count; index += step) {
      const int64_t pack = index % p.packs, rest = index / p.packs;
      const int64_t n = rest / p.runs, o0 = (rest - n * p.runs) * kRunRows;
      const int64_t c = pack * kV;
      const int rows =
          static_cast<int>(p.out_rows - o0 < kRunRows ? p.out_rows - o0 : kRunRows);
      const T* in = p.in + n * p.in_rows * p.channels + c;
      Acc sum[kRunRows][kV] = {};
      for (int64_t k = 0; k < p.kernel_size; ++k) {
        Acc w[kV];
        LoadRun<T, kV>(p.filter + k * p.channels + c, w);
        const int64_t first = o0 * p.stride + p.offset + k * p.tap_step;
        // The run's loads first, so that they are in flight together.
        Pack<T, kV> x[kRunRows];
        bool inside[kRunRows];
#pragma unroll
        for (int r = 0; r < kRunRows; ++r) {
          const int64_t row = r < rows ? first + r * p.stride : -1;
          inside[r] = row >= 0 && row < p.in_rows;
          if (inside[r]) x[r] = LoadPack<T, kV>(in + row * p.channels);
        }
#pragma unroll
        for (int r = 0; r < kRunRows; ++r) {
          if (!inside[r]) continue;
#pragma unroll
          for (int j = 0; j < kV; ++j) {
            sum[r][j] = Fma(Num<T>::ToAcc(x[r].v[j]), w[j], sum[r][j]);
          }
        }
      }
      Acc bias[kV] = {};
      if (p.bias != nullptr) LoadRun<T, kV>(p.bias + c, bias);
#pragma unroll
      for (int r = 0; r < kRunRows; ++r) {
        if (r >= rows) break;
        Pack<T, kV> z, y;
#pragma unroll
        for (int j = 0; j < kV; ++j) {
          const Acc v = p.bias != nullptr ? sum[r][j] + bias[j] : sum[r][j];
          z.v[j] = Num<T>::FromAcc(v);
          y.v[j] = Num<T>::FromAcc(Activate<Acc>(act, v));
        }
        const int64_t at = (n * p.out_rows + o0 + r) * p.channels + c;
        if (p.preactivation != nullptr) StorePack(p.preactivation + at, z);
        StorePack(p.out + at, y);
      }
    }
  });
}

// Channels per thread in the filter gradient: at most 4, so that the sums of
// kTapsPerThread taps and the row's loads fit the registers of two blocks
// per SM (8 half or bfloat16 channels spilled).
template <typename T>
constexpr int FilterGradPack() {
  return VectorWidth<T>() < 4 ? VectorWidth<T>() : 4;
}

template <typename T>
struct FilterGradArgs {
  using Acc = typename Num<T>::Acc;
  const T* x;     // NWC [batch, in_steps, channels]
  const T* dz;    // NWC [batch * out_steps, channels]
  Acc* partials;  // [slices, kernel_size + 1, channels]
  int64_t in_steps, out_steps, channels, kernel_size, stride, dilation, pad_left;
  int64_t rows, slices, tap_groups, packs, count;  // count = slices * tap_groups * packs
};

template <typename T>
__global__ void __launch_bounds__(kThreads) PackedFilterGradKernel(FilterGradArgs<T> p) {
  using Acc = typename Num<T>::Acc;
  constexpr int kV = FilterGradPack<T>();
  const int64_t step = static_cast<int64_t>(gridDim.x) * kThreads;
  for (int64_t index = static_cast<int64_t>(blockIdx.x) * kThreads + threadIdx.x;
       index < p.count; index += step) {
    const int64_t pack = index % p.packs, rest = index / p.packs;
    const int64_t slice = rest / p.tap_groups;
    const int64_t tap0 = (rest - slice * p.tap_groups) * kTapsPerThread;
    const int64_t c = pack * kV;
    // Taps of this thread, the bias row (tap kernel_size) included.
    const int taps = static_cast<int>(
        p.kernel_size + 1 - tap0 < kTapsPerThread ? p.kernel_size + 1 - tap0 : kTapsPerThread);
    const int64_t first = SliceBegin(slice, p.rows, p.slices);
    const int64_t last = SliceBegin(slice + 1, p.rows, p.slices);
    Acc sum[kTapsPerThread][kV] = {};
    int64_t n = first < last ? first / p.out_steps : 0;  // out_steps may be 0
    int64_t o = first - n * p.out_steps;
    for (int64_t row = first; row < last; ++row) {
      Acc dz[kV];
      LoadRun<T, kV>(p.dz + row * p.channels + c, dz);
      const T* x = p.x + n * p.in_steps * p.channels + c;
      const int64_t base = o * p.stride - p.pad_left + tap0 * p.dilation;
      // The row's loads first, so that they are in flight together.
      Pack<T, kV> v[kTapsPerThread];
      bool inside[kTapsPerThread];
#pragma unroll
      for (int t = 0; t < kTapsPerThread; ++t) {
        const int64_t in_step = t < taps && tap0 + t < p.kernel_size ? base + t * p.dilation : -1;
        inside[t] = in_step >= 0 && in_step < p.in_steps;
        if (inside[t]) v[t] = LoadPack<T, kV>(x + in_step * p.channels);
      }
#pragma unroll
      for (int t = 0; t < kTapsPerThread; ++t) {
        if (t >= taps) break;
        if (tap0 + t == p.kernel_size) {
#pragma unroll
          for (int j = 0; j < kV; ++j) sum[t][j] += dz[j];
        } else if (inside[t]) {
#pragma unroll
          for (int j = 0; j < kV; ++j) sum[t][j] = Fma(Num<T>::ToAcc(v[t].v[j]), dz[j], sum[t][j]);
        }
      }
      if (++o == p.out_steps) {
        o = 0;
        ++n;
      }
    }
    Acc* out = p.partials + (slice * (p.kernel_size + 1) + tap0) * p.channels + c;
#pragma unroll
    for (int t = 0; t < kTapsPerThread; ++t) {
      if (t >= taps) break;
#pragma unroll
      for (int j = 0; j < kV; ++j) out[t * p.channels + j] = sum[t][j];
    }
  }
}

}  // namespace

template <typename T>
bool PackedDepthwiseFits(const Conv1DGeometry& g) {
  return g.layout == Layout::kNWC && g.out_channels == g.in_channels &&
         g.in_channels % VectorWidth<T>() == 0;
}

template <typename T>
GpuStatus PackedCorrelate(const PackedCorrelation<T>& c, cudaStream_t stream) {
  CorrelateArgs<T> p;
  static_cast<PackedCorrelation<T>&>(p) = c;
  p.packs = c.channels / VectorWidth<T>();
  p.runs = CeilDiv(c.out_rows, int64_t{kRunRows});
  p.count = c.batch * p.runs * p.packs;  // <= the output's elements
  if (p.count == 0) return GpuStatus{};
  return CheckLaunch(Launch(PackedCorrelateKernel<T>, GridFor(p.count), dim3(kThreads), stream, p),
                     "the packed depthwise Conv1D kernel");
}

template <typename T>
int64_t PackedFilterGradSlices(const Conv1DGeometry& g) {
  using Acc = typename Num<T>::Acc;
  const int64_t per_slice = (g.kernel_size + 1) * g.out_channels;
  const int64_t threads_per_slice =
      CeilDiv(g.kernel_size + 1, int64_t{kTapsPerThread}) * (g.out_channels / FilterGradPack<T>());
  const int64_t by_memory = kMaxPartialBytes / (per_slice * static_cast<int64_t>(sizeof(Acc)));
  return std::max<int64_t>(1, std::min({CeilDiv(kTargetThreads, threads_per_slice),
                                        CeilDiv(g.batch * g.out_steps, kMinRowsPerSlice),
                                        by_memory}));
}

template <typename T>
GpuStatus PackedFilterGradPartials(const Conv1DGeometry& g, const T* x, const T* dz,
                                   typename Num<T>::Acc* partials, int64_t slices,
                                   cudaStream_t stream) {
  FilterGradArgs<T> p;
  p.x = x;
  p.dz = dz;
  p.partials = partials;
  p.in_steps = g.in_steps;
  p.out_steps = g.out_steps;
  p.channels = g.out_channels;
  p.kernel_size = g.kernel_size;
  p.stride = g.stride;
  p.dilation = g.dilation;
  p.pad_left = g.pad_left;
  p.rows = g.batch * g.out_steps;
  p.slices = slices;
  p.tap_groups = CeilDiv(g.kernel_size + 1, int64_t{kTapsPerThread});
  p.packs = g.out_channels / FilterGradPack<T>();
  p.count = slices * p.tap_groups * p.packs;  // <= the partials' accumulators
  if (p.count == 0) return GpuStatus{};
  return CheckLaunch(Launch(PackedFilterGradKernel<T>, GridFor(p.count), dim3(kThreads), stream,
                            p),
                     "the packed depthwise Conv1D filter-gradient kernel");
}

#define CONV1D_INSTANTIATE(CpuT, T, name)                                                      \
  template bool PackedDepthwiseFits<T>(const Conv1DGeometry&);                               \
  template GpuStatus PackedCorrelate<T>(const PackedCorrelation<T>&, cudaStream_t);          \
  template int64_t PackedFilterGradSlices<T>(const Conv1DGeometry&);                         \
  template GpuStatus PackedFilterGradPartials<T>(const Conv1DGeometry&, const T*, const T*,  \
                                                 typename Num<T>::Acc*, int64_t,             \
                                                 cudaStream_t);
CONV1D_DTYPES(CONV1D_INSTANTIATE)
#undef CONV1D_INSTANTIATE

}  // namespace gpu
}  // namespace conv1d
