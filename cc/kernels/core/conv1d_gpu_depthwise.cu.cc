// Depthwise passes on the GPU (conv1d_gpu_passes.h), element by element.
// NWC problems with one filter per channel and whole 16-byte packs of
// channels take the packed kernels instead (conv1d_gpu_depthwise_packed.h);
// the launchers at the end of this file choose. Output channel co
// reads input channel co / m (m = out_channels / in_channels) through taps
// of its own:
//   z[n, o, co] = sum over k of x[n, o * stride - pad + k * dilation, co / m]
//                 * filter[k, 0, co]
// There is no channel reduction: each output element costs K multiply-adds,
// so the passes are bound by memory and are written to touch each tensor
// once, coalesced, with float accumulation for half and bfloat16.
//
// Forward and input gradient: a block owns tiles of kTileChannels channels
// x up to kMaxTileSteps steps of one batch item (a grid-stride loop over
// the tiles, so any size fits the grid). It first copies the window of rows
// the tile reads (input rows for the forward, dz rows for the input
// gradient) into shared memory, loading along the tensor's contiguous axis
// (channels for NWC, steps for NCW), and then computes from there: each
// element comes from global memory once per tile, not once per tap (31
// times for a Conformer kernel). Threads compute and store along the
// output's contiguous axis: channels for NWC, steps for NCW. Where the
// window would not fit the shared buffer (long dilated kernels, large
// strides or multipliers) the block reads global memory directly instead.
//
// Input gradient: input step i gathers, for the taps k where
// o = (i + pad - k * dilation) / stride is whole and inside the output, the
// m output channels of its channel:
//   dx[n, i, c] = sum over k, j < m of dz[n, o, c * m + j] * filter[k, 0, c * m + j]
// dz = grad_output * activation'(operand) is written NWC to the workspace by
// the dense path's own pass (conv1d_gpu_layout.h), so it is rounded to T
// exactly as there; a linear NWC gradient is read in place.
//
// Filter and bias gradients: dw[k, co] = sum over rows (n, o) of
// x[n, o * stride - pad + k * dilation, co / m] * dz[n, o, co] and
// db[co] = sum of dz[n, o, co] (tap K below). A block takes 32 channels of
// one slice of the rows; its 8 warps split the taps, each thread summing its
// (tap, channel) over the slice's rows in order. The slices' partial sums
// are added in a fixed order (gpu_partial_sums.h), as the dense filter
// gradient does: no atomics, bitwise reproducible. NCW inputs are first
// transposed to NWC (conv1d_gpu_layout.h) so the loads run along channels.
#include <algorithm>
#include <cstdint>

#include "cc/kernels/core/channel_groups.h"
#include "cc/kernels/core/conv1d_gpu_common.h"
#include "cc/kernels/core/conv1d_gpu_depthwise_packed.h"
#include "cc/kernels/core/conv1d_gpu_layout.h"
#include "cc/kernels/core/conv1d_gpu_passes.h"
#include "cc/kernels/core/dtypes.h"
#include "cc/kernels/core/gpu_partial_sums.h"
#include "cc/kernels/core/gpu_tile_gemm.h"

namespace conv1d {
namespace gpu {
namespace {

constexpr int kThreads = 256;
constexpr int kTileChannels = 32;
constexpr int kStageLd = kTileChannels + 1;  // NCW stages write along steps: no bank conflicts
constexpr int64_t kMaxTileSteps = 64;
constexpr int kStageBytes = 16384;
constexpr int64_t kMaxBlocks = 65535;  // grid-stride over tiles beyond
// Filter gradient: blocks of 32 channels x kTapLanes warps; about
// kTargetBlocks blocks, each summing at least kMinRowsPerSlice rows.
constexpr int kTapLanes = kThreads / kTileChannels;
constexpr int64_t kTargetBlocks = 1024;
constexpr int64_t kMinRowsPerSlice = 64;

// Rows of kStageLd elements that the shared window holds.
template <typename T>
constexpr int64_t StageRows() {
  return kStageBytes / static_cast<int64_t>(sizeof(T)) / kStageLd;
}

__host__ __device__ __forceinline__ int64_t FloorDiv(int64_t a, int64_t b) {  // b > 0
  return a >= 0 ? a / b : -((-a + b - 1) / b);
}

// Tiles of `tile_steps` x `tile_channels` over [batch, steps, channels].
struct TileGrid {
  int64_t steps, channels, tile_steps, tile_channels;
  int64_t step_tiles, channel_tiles, count;
};

TileGrid MakeTileGrid(int64_t batch, int64_t steps, int64_t channels, int64_t tile_steps,
                      int64_t tile_channels) {
  TileGrid t;
  t.steps = steps;
  t.channels = channels;
  t.tile_steps = tile_steps;
  t.tile_channels = tile_channels;
  t.step_tiles = CeilDiv(steps, tile_steps);
  t.channel_tiles = CeilDiv(channels, tile_channels);
  t.count = batch * t.step_tiles * t.channel_tiles;  // <= batch * steps * channels
  return t;
}

// One tile: batch item n, steps [s0, s0 + steps), channels [c0, c0 + channels).
struct Tile {
  int64_t n, s0, c0;
  int steps, channels;
};

__device__ __forceinline__ Tile TileAt(const TileGrid& g, int64_t index) {
  Tile t;
  const int64_t channel_tile = index % g.channel_tiles, rest = index / g.channel_tiles;
  t.n = rest / g.step_tiles;
  t.s0 = (rest - t.n * g.step_tiles) * g.tile_steps;
  t.c0 = channel_tile * g.tile_channels;
  const int64_t steps_left = g.steps - t.s0, channels_left = g.channels - t.c0;
  t.steps = static_cast<int>(steps_left < g.tile_steps ? steps_left : g.tile_steps);
  t.channels = static_cast<int>(channels_left < g.tile_channels ? channels_left
                                                                 : g.tile_channels);
  return t;
}

// Element e of a tile as (step r, channel c), consecutive e along the
// contiguous axis of the tensor it is stored to.
__device__ __forceinline__ void TileElement(const Tile& t, int e, bool nwc, int* r, int* c) {
  if (nwc) {
    *r = e / t.channels;
    *c = e - *r * t.channels;
  } else {
    *c = e / t.steps;
    *r = e - *c * t.steps;
  }
}

// stage[r * kStageLd + c] = src[first_step + r, first_channel + c] for
// r < rows, c < kTileChannels, zero outside the tensor. src is one batch
// item with the given strides; the loads run along its contiguous axis.
template <typename T>
__device__ __forceinline__ void StageWindow(T* stage, const T* src, int64_t step_stride,
                                            int64_t channel_stride, bool nwc,
                                            int64_t first_step, int64_t steps,
                                            int64_t first_channel, int64_t channels, int rows) {
  const int count = rows * kTileChannels;
  for (int e = static_cast<int>(threadIdx.x); e < count; e += kThreads) {
    int r, c;
    if (nwc) {
      r = e / kTileChannels;
      c = e - r * kTileChannels;
    } else {
      c = e / rows;
      r = e - c * rows;
    }
    const int64_t step = first_step + r, channel = first_channel + c;
    stage[r * kStageLd + c] = step >= 0 && step < steps && channel < channels
                                  ? src[step * step_stride + channel * channel_stride]
                                  : Num<T>::FromAcc(typename Num<T>::Acc(0));
  }
}

// The sizes every depthwise kernel reads, as one base of their arguments.
struct DepthwiseDims {
  int64_t in_steps, out_steps, in_channels, out_channels, multiplier;
  int64_t kernel_size, stride, dilation, pad_left, kernel_extent;
};

DepthwiseDims DimsOf(const Conv1DGeometry& g) {
  return {g.in_steps,    g.out_steps, g.in_channels, g.out_channels, g.out_channels / g.in_channels,
          g.kernel_size, g.stride,    g.dilation,    g.pad_left,     g.kernel_extent};
}

// ------------------------------------------------------------------ forward

template <typename T>
struct ForwardArgs : DepthwiseDims {
  const T* x;       // the op's layout
  const T* filter;  // [kernel_size, 1, out_channels]
  const T* bias;    // [out_channels] or null
  T* output;        // the op's layout
  T* preactivation; // same, or null
  int window;       // input rows staged per tile; 0: x read directly
  bool nwc;
  TileGrid tiles;   // over output steps and channels
  ActivationSpec act;
};

template <typename T>
__global__ void __launch_bounds__(kThreads) DepthwiseForwardKernel(ForwardArgs<T> p) {
  using Acc = typename Num<T>::Acc;
  __shared__ T stage[StageRows<T>() * kStageLd];
  const int64_t x_step = p.nwc ? p.in_channels : 1, x_channel = p.nwc ? 1 : p.in_steps;
  const int64_t y_step = p.nwc ? p.out_channels : 1, y_channel = p.nwc ? 1 : p.out_steps;
  for (int64_t index = blockIdx.x; index < p.tiles.count; index += gridDim.x) {
    const Tile t = TileAt(p.tiles, index);
    const T* x = p.x + t.n * p.in_steps * p.in_channels;
    const int64_t first_step = t.s0 * p.stride - p.pad_left;  // of the tile's window
    const int64_t first_channel = t.c0 / p.multiplier;
    if (p.window > 0) {
      StageWindow(stage, x, x_step, x_channel, p.nwc, first_step, p.in_steps, first_channel,
                  p.in_channels, p.window);
      __syncthreads();
    }
    const int64_t y_item = t.n * p.out_steps * p.out_channels;
    for (int e = static_cast<int>(threadIdx.x); e < t.steps * t.channels; e += kThreads) {
      int r, c;
      TileElement(t, e, p.nwc, &r, &c);
      const int64_t co = t.c0 + c;
      const int64_t ci = p.multiplier == 1 ? co : co / p.multiplier;  // 64-bit division is slow
      const T* w = p.filter + co;
      Acc z = Acc(0);
      if (p.window > 0) {
        const T* in = stage + r * p.stride * kStageLd + (ci - first_channel);
        for (int64_t k = 0; k < p.kernel_size; ++k) {
          z = Fma(Num<T>::ToAcc(in[k * p.dilation * kStageLd]),
                  Num<T>::ToAcc(w[k * p.out_channels]), z);
        }
      } else {
        const int64_t start = first_step + r * p.stride;
        const T* in = x + ci * x_channel;
        for (int64_t k = 0; k < p.kernel_size; ++k) {
          const int64_t step = start + k * p.dilation;
          if (step < 0) continue;
          if (step >= p.in_steps) break;
          z = Fma(Num<T>::ToAcc(in[step * x_step]), Num<T>::ToAcc(w[k * p.out_channels]), z);
        }
      }
      if (p.bias != nullptr) z += Num<T>::ToAcc(p.bias[co]);
      const int64_t at = y_item + (t.s0 + r) * y_step + co * y_channel;
      if (p.preactivation != nullptr) p.preactivation[at] = Num<T>::FromAcc(z);
      p.output[at] = Num<T>::FromAcc(Activate<Acc>(p.act, z));
    }
    __syncthreads();  // the next tile refills the stage
  }
}

// ------------------------------------------------------------ input gradient

template <typename T>
struct BackpropInputArgs : DepthwiseDims {
  const T* dz;      // NWC [batch, out_steps, out_channels]
  const T* filter;  // [kernel_size, 1, out_channels]
  T* grad_input;    // the op's layout
  int window;       // dz rows staged per tile; 0: dz read directly
  bool nwc;
  TileGrid tiles;   // over input steps and channels
};

template <typename T>
__global__ void __launch_bounds__(kThreads) DepthwiseBackpropInputKernel(BackpropInputArgs<T> p) {
  using Acc = typename Num<T>::Acc;
  __shared__ T stage[StageRows<T>() * kStageLd];
  const int64_t dx_step = p.nwc ? p.in_channels : 1, dx_channel = p.nwc ? 1 : p.in_steps;
  const int64_t m = p.multiplier;
  for (int64_t index = blockIdx.x; index < p.tiles.count; index += gridDim.x) {
    const Tile t = TileAt(p.tiles, index);
    const T* dz = p.dz + t.n * p.out_steps * p.out_channels;
    // The first output step any input step of the tile receives from.
    const int64_t first_o = FloorDiv(t.s0 + p.pad_left - (p.kernel_extent - 1), p.stride);
    const int64_t first_co = t.c0 * m;
    if (p.window > 0) {
      StageWindow(stage, dz, p.out_channels, 1, true, first_o, p.out_steps, first_co,
                  p.out_channels, p.window);
      __syncthreads();
    }
    for (int e = static_cast<int>(threadIdx.x); e < t.steps * t.channels; e += kThreads) {
      int r, c;
      TileElement(t, e, p.nwc, &r, &c);
      const int64_t ci = t.c0 + c, i = t.s0 + r;
      Acc sum = Acc(0);
      for (int64_t k = 0; k < p.kernel_size; ++k) {
        const int64_t reach = i + p.pad_left - k * p.dilation;  // o * stride
        if (reach < 0) break;
        const int64_t o = p.stride == 1 ? reach : reach / p.stride;
        if (o * p.stride != reach || o >= p.out_steps) continue;
        const T* w = p.filter + k * p.out_channels + ci * m;
        if (p.window > 0) {
          const T* row = stage + (o - first_o) * kStageLd + (ci * m - first_co);
          for (int64_t j = 0; j < m; ++j) {
            sum = Fma(Num<T>::ToAcc(row[j]), Num<T>::ToAcc(w[j]), sum);
          }
        } else {
          const T* row = dz + o * p.out_channels + ci * m;
          for (int64_t j = 0; j < m; ++j) {
            sum = Fma(Num<T>::ToAcc(row[j]), Num<T>::ToAcc(w[j]), sum);
          }
        }
      }
      p.grad_input[t.n * p.in_steps * p.in_channels + i * dx_step + ci * dx_channel] =
          Num<T>::FromAcc(sum);
    }
    __syncthreads();  // the next tile refills the stage
  }
}

// ----------------------------------------------------------- filter gradient

template <typename T>
struct BackpropFilterArgs : DepthwiseDims {
  using Acc = typename Num<T>::Acc;
  const T* x;     // NWC [batch, in_steps, in_channels]
  const T* dz;    // NWC [batch * out_steps, out_channels]
  Acc* partials;  // [slices, kernel_size + 1, out_channels]
  int64_t rows, channel_tiles, slices;
};

template <typename T>
__global__ void __launch_bounds__(kThreads)
    DepthwiseBackpropFilterKernel(BackpropFilterArgs<T> p) {
  using Acc = typename Num<T>::Acc;
  const int lane = static_cast<int>(threadIdx.x) / kTileChannels;
  const int channel = static_cast<int>(threadIdx.x) % kTileChannels;
  for (int64_t item = blockIdx.x; item < p.channel_tiles * p.slices; item += gridDim.x) {
    const int64_t slice = item / p.channel_tiles;
    const int64_t co = (item - slice * p.channel_tiles) * kTileChannels + channel;
    if (co >= p.out_channels) continue;
    const int64_t ci = co / p.multiplier;
    const int64_t first = SliceBegin(slice, p.rows, p.slices);
    const int64_t last = SliceBegin(slice + 1, p.rows, p.slices);
    Acc* out = p.partials + slice * (p.kernel_size + 1) * p.out_channels + co;
    for (int64_t tap = lane; tap <= p.kernel_size; tap += kTapLanes) {  // tap K: the bias
      Acc sum = Acc(0);
      int64_t n = first < last ? first / p.out_steps : 0;
      int64_t o = first - n * p.out_steps;
      for (int64_t row = first; row < last; ++row) {
        const Acc dz = Num<T>::ToAcc(p.dz[row * p.out_channels + co]);
        if (tap == p.kernel_size) {
          sum += dz;
        } else {
          const int64_t step = o * p.stride - p.pad_left + tap * p.dilation;
          if (step >= 0 && step < p.in_steps) {
            sum = Fma(Num<T>::ToAcc(p.x[(n * p.in_steps + step) * p.in_channels + ci]), dz,
                      sum);
          }
        }
        if (++o == p.out_steps) {
          o = 0;
          ++n;
        }
      }
      out[tap * p.out_channels] = sum;
    }
  }
}

// ------------------------------------------------------------------- plans

// Steps per tile, and the rows the stage holds per tile (0: not staged).
struct Staging {
  int64_t tile_steps;
  int window;
};

// Forward: a tile of s steps reads (s - 1) * stride + extent input rows.
template <typename T>
Staging ForwardStaging(const Conv1DGeometry& g) {
  const int64_t capacity = StageRows<T>();
  if (g.kernel_extent > capacity) return {std::min(kMaxTileSteps, g.out_steps), 0};
  const int64_t tile_steps =
      std::min({kMaxTileSteps, g.out_steps, (capacity - g.kernel_extent) / g.stride + 1});
  return {tile_steps, static_cast<int>((tile_steps - 1) * g.stride + g.kernel_extent)};
}

// Input gradient: a tile of s input steps reads at most
// (s + extent - 2) / stride + 2 dz rows, of tile_channels * m channels.
// Strides beyond kMaxTileSteps leave a tile's steps no dz row to share.
template <typename T>
Staging BackpropInputStaging(const Conv1DGeometry& g, int64_t tile_channels) {
  const int64_t capacity = StageRows<T>();
  const int64_t unstaged = std::min(kMaxTileSteps, g.in_steps);
  if (tile_channels * (g.out_channels / g.in_channels) > kTileChannels ||
      g.stride > kMaxTileSteps) {
    return {unstaged, 0};
  }
  // (s + extent - 2) / stride + 2 <= capacity  <=>  s <= (capacity - 1) * stride + 1 - extent.
  const int64_t most = (capacity - 1) * g.stride + 1 - g.kernel_extent;
  if (most < 1) return {unstaged, 0};
  const int64_t tile_steps = std::min({kMaxTileSteps, g.in_steps, most});
  return {tile_steps, static_cast<int>((tile_steps + g.kernel_extent - 2) / g.stride + 2)};
}

// Input channels per input-gradient tile: as many as the stage's
// kTileChannels dz columns hold with their m output channels each.
int64_t BackpropInputTileChannels(const Conv1DGeometry& g) {
  return std::max<int64_t>(1, kTileChannels / (g.out_channels / g.in_channels));
}

dim3 GridFor(int64_t work) {  // work >= 1
  dim3 grid;
  MakeGrid(std::min(work, kMaxBlocks), 1, 1, &grid);
  return grid;
}

template <typename T>
struct BackpropInputPlan {
  T* dz = nullptr;  // NWC dz, where grad_output is not already that
  size_t bytes = 0;
};

template <typename T>
BackpropInputPlan<T> PlanBackpropInput(const Conv1DGeometry& g, const ActivationSpec& act,
                                       void* base) {
  WorkspaceArena arena(base);
  BackpropInputPlan<T> plan;
  if (!GradOutputIsDz(act, g.layout)) plan.dz = arena.Take<T>(g.output_elements());
  plan.bytes = arena.used();
  return plan;
}

template <typename T>
struct BackpropFilterPlan {
  using Acc = typename Num<T>::Acc;
  int64_t channel_tiles = 0, slices = 1, per_slice = 0;
  T* x_nwc = nullptr;
  T* dz = nullptr;
  Acc* partials = nullptr;
  size_t bytes = 0;
};

template <typename T>
BackpropFilterPlan<T> PlanBackpropFilter(const Conv1DGeometry& g, const ActivationSpec& act,
                                         void* base) {
  using Acc = typename Num<T>::Acc;
  BackpropFilterPlan<T> plan;
  plan.per_slice = (g.kernel_size + 1) * g.out_channels;  // + the bias row
  plan.channel_tiles = CeilDiv(g.out_channels, kTileChannels);
  const int64_t by_memory =
      kMaxPartialBytes / (plan.per_slice * static_cast<int64_t>(sizeof(Acc)));
  // The packed kernel's slicing where it may run; the element-wise kernel,
  // which takes any slicing, runs with it too if a tensor is unaligned.
  plan.slices = PackedDepthwiseFits<T>(g)
                    ? PackedFilterGradSlices<T>(g)
                    : std::max<int64_t>(
                          1, std::min({CeilDiv(kTargetBlocks, plan.channel_tiles),
                                       CeilDiv(g.batch * g.out_steps, kMinRowsPerSlice),
                                       by_memory}));
  WorkspaceArena arena(base);
  if (g.layout == Layout::kNCW) plan.x_nwc = arena.Take<T>(g.input_elements());
  if (!GradOutputIsDz(act, g.layout)) plan.dz = arena.Take<T>(g.output_elements());
  plan.partials = arena.Take<Acc>(plan.slices * plan.per_slice);
  plan.bytes = arena.used();
  return plan;
}

// The limits of the per-group dense path, which these kernels replace.
GpuStatus CheckDepthwiseSizes(const Conv1DGeometry& g) {
  return CheckSizes(channel_groups::GroupGeometry(g));
}

#define RETURN_IF_ERROR(expr)    \
  do {                           \
    const GpuStatus s_ = (expr); \
    if (!s_.ok()) return s_;     \
  } while (0)

template <typename T>
size_t ForwardWorkspaceBytes(const Conv1DGeometry&, const ActivationSpec&) {
  return 0;
}

template <typename T>
GpuStatus Forward(const Conv1DGeometry& g, const ActivationSpec& act, const T* input,
                  const T* filter, const T* bias, T* output, T* preactivation,
                  void*, cudaStream_t stream) {
  if (g.output_elements() == 0) return GpuStatus{};
  RETURN_IF_ERROR(CheckDepthwiseSizes(g));
  if (PackedDepthwiseFits<T>(g) && Aligned16(input) && Aligned16(filter) && Aligned16(bias) &&
      Aligned16(output) && Aligned16(preactivation)) {
    PackedCorrelation<T> c;
    c.in = input;
    c.filter = filter;
    c.bias = bias;
    c.out = output;
    c.preactivation = preactivation;
    c.batch = g.batch;
    c.in_rows = g.in_steps;
    c.out_rows = g.out_steps;
    c.channels = g.out_channels;
    c.kernel_size = g.kernel_size;
    c.stride = g.stride;
    c.offset = -g.pad_left;
    c.tap_step = g.dilation;
    c.act = act;
    return PackedCorrelate(c, stream);
  }
  const Staging staging = ForwardStaging<T>(g);
  ForwardArgs<T> p;
  p.x = input;
  p.filter = filter;
  p.bias = bias;
  p.output = output;
  p.preactivation = preactivation;
  static_cast<DepthwiseDims&>(p) = DimsOf(g);
  p.window = staging.window;
  p.nwc = g.layout == Layout::kNWC;
  p.tiles = MakeTileGrid(g.batch, g.out_steps, g.out_channels, staging.tile_steps,
                         kTileChannels);
  p.act = act;
  return CheckLaunch(Launch(DepthwiseForwardKernel<T>, GridFor(p.tiles.count), dim3(kThreads),
                            stream, p),
                     "the depthwise Conv1D forward kernel");
}

template <typename T>
size_t BackpropInputWorkspaceBytes(const Conv1DGeometry& g,
                                   const ActivationSpec& act) {
  return PlanBackpropInput<T>(g, act, nullptr).bytes;
}

template <typename T>
GpuStatus BackpropInput(const Conv1DGeometry& g, const ActivationSpec& act,
                        const T* filter, const T* grad_output, const T* operand,
                        T* grad_input, void* workspace, cudaStream_t stream) {
  if (g.input_elements() == 0) return GpuStatus{};
  RETURN_IF_ERROR(CheckDepthwiseSizes(g));
  const BackpropInputPlan<T> plan = PlanBackpropInput<T>(g, act, workspace);
  RETURN_IF_ERROR(CheckWorkspace(workspace, plan.bytes));
  const T* dz = grad_output;
  if (plan.dz != nullptr) {
    RETURN_IF_ERROR(ActivationGradToNwc(act, g.layout, grad_output, operand, plan.dz, g.batch,
                                        g.out_steps, g.out_channels, stream));
    dz = plan.dz;
  }
  if (PackedDepthwiseFits<T>(g) && g.stride == 1 && Aligned16(filter) && Aligned16(dz) &&
      Aligned16(grad_input)) {
    // dx[n, i, c] = sum over k of dz[n, i + pad_left - k * dilation, c] * filter[k, c].
    PackedCorrelation<T> c;
    c.in = dz;
    c.filter = filter;
    c.out = grad_input;
    c.batch = g.batch;
    c.in_rows = g.out_steps;
    c.out_rows = g.in_steps;
    c.channels = g.in_channels;
    c.kernel_size = g.kernel_size;
    c.offset = g.pad_left;
    c.tap_step = -g.dilation;
    return PackedCorrelate(c, stream);
  }
  const int64_t tile_channels = BackpropInputTileChannels(g);
  const Staging staging = BackpropInputStaging<T>(g, tile_channels);
  BackpropInputArgs<T> p;
  p.dz = dz;
  p.filter = filter;
  p.grad_input = grad_input;
  static_cast<DepthwiseDims&>(p) = DimsOf(g);
  p.window = staging.window;
  p.nwc = g.layout == Layout::kNWC;
  p.tiles = MakeTileGrid(g.batch, g.in_steps, g.in_channels, staging.tile_steps, tile_channels);
  return CheckLaunch(Launch(DepthwiseBackpropInputKernel<T>, GridFor(p.tiles.count),
                            dim3(kThreads), stream, p),
                     "the depthwise Conv1D input-gradient kernel");
}

template <typename T>
size_t BackpropFilterWorkspaceBytes(const Conv1DGeometry& g,
                                    const ActivationSpec& act) {
  return PlanBackpropFilter<T>(g, act, nullptr).bytes;
}

template <typename T>
GpuStatus BackpropFilter(const Conv1DGeometry& g, const ActivationSpec& act,
                         const T* input, const T* grad_output, const T* operand,
                         T* grad_filter, T* grad_bias, void* workspace,
                         cudaStream_t stream) {
  RETURN_IF_ERROR(CheckDepthwiseSizes(g));
  const BackpropFilterPlan<T> plan = PlanBackpropFilter<T>(g, act, workspace);
  RETURN_IF_ERROR(CheckWorkspace(workspace, plan.bytes));
  const T* x = input;
  if (plan.x_nwc != nullptr) {
    RETURN_IF_ERROR(
        TransposeNcwToNwc(input, plan.x_nwc, g.batch, g.in_channels, g.in_steps, stream));
    x = plan.x_nwc;
  }
  const T* dz = grad_output;
  if (plan.dz != nullptr) {
    RETURN_IF_ERROR(ActivationGradToNwc(act, g.layout, grad_output, operand, plan.dz, g.batch,
                                        g.out_steps, g.out_channels, stream));
    dz = plan.dz;
  }
  if (PackedDepthwiseFits<T>(g) && Aligned16(x) && Aligned16(dz)) {
    RETURN_IF_ERROR(PackedFilterGradPartials<T>(g, x, dz, plan.partials, plan.slices, stream));
    return SumPartials<T>(plan.partials, plan.slices, plan.per_slice,
                          plan.per_slice - g.out_channels, grad_filter, grad_bias, stream);
  }
  BackpropFilterArgs<T> p;
  p.x = x;
  p.dz = dz;
  p.partials = plan.partials;
  p.rows = g.batch * g.out_steps;
  static_cast<DepthwiseDims&>(p) = DimsOf(g);
  p.channel_tiles = plan.channel_tiles;
  p.slices = plan.slices;
  RETURN_IF_ERROR(CheckLaunch(Launch(DepthwiseBackpropFilterKernel<T>,
                                     GridFor(plan.channel_tiles * plan.slices), dim3(kThreads),
                                     stream, p),
                              "the depthwise Conv1D filter-gradient kernel"));
  return SumPartials<T>(plan.partials, plan.slices, plan.per_slice,
                        plan.per_slice - g.out_channels, grad_filter, grad_bias, stream);
}

#undef RETURN_IF_ERROR

// Of internal linkage, at namespace scope: see GpuPasses.
template <typename T>
constexpr GpuPasses<T> kPasses{ForwardWorkspaceBytes<T>,        Forward<T>,
                               BackpropInputWorkspaceBytes<T>,  BackpropInput<T>,
                               BackpropFilterWorkspaceBytes<T>, BackpropFilter<T>};

}  // namespace

template <typename T>
const GpuPasses<T>& DepthwisePasses() {
  return kPasses<T>;
}

#define CONV1D_INSTANTIATE(CpuT, T, name) template const GpuPasses<T>& DepthwisePasses<T>();
CONV1D_DTYPES(CONV1D_INSTANTIATE)
#undef CONV1D_INSTANTIATE

}  // namespace gpu
}  // namespace conv1d
