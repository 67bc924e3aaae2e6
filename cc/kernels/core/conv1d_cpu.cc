// CPU core: every pass is a loop over tiles of rows, each tile a few calls of
// the register-tiled gemm::Gemm, which reads its operands where they lie.
//
// A tile first takes a "slab": the contiguous run of input steps (or dz
// rows) its windows cover, as an NWC matrix of the accumulator type. For NWC
// float/double input away from the padding that is the input itself; at the
// edges, for NCW and for half/bfloat16 the few steps are copied (zero
// padding included), which is about `stride` times less than an im2col.
//
// Forward: output rows o of one batch item are
//   sum over taps t: slab[o * stride + t * dilation] x filter[t]
// With dilation 1 the taps of a window are adjacent, so a window is one row
// of length K * Cin; otherwise each tap is one depth block. The filter is
// packed once per call into the kernel's column panels; bias and the
// piecewise-linear activations are applied in registers, others while the
// output tile is in cache. NWC float/double output is written in place.
// Large stride-1 layers, and strided ones with long kernels, run Winograd
// tiles instead (winograd_tiles.h).
//
// Input gradient: input rows are split by phase (i + pad_left) mod stride.
// Rows of one phase receive contributions from a fixed subset of taps, each
// a shifted run of dz rows, so each phase is a stride-1 correlation of dz
// with those taps' transposed filters: no multiplications by the zeros a
// dilated-dz formulation would have. With stride 1 on Winograd-sized layers
// it is a forward convolution of dz instead, and for bfloat16 on the dot
// products one such forward per phase (BackpropInputAsForward).
//
// Filter gradient: slab^T x dz per tile, the kernel's rows being the K * Cin
// (tap, channel) pairs read down the steps, summed into a fixed number of
// partial sums that are added in a fixed order.
//
// Tiles, depth blocks and partial-sum groups depend on the problem size
// only, so results are bitwise independent of the number of threads.
//
// The building blocks (tile sizes, slabs, packing, depth blocks) are in
// cpu_tiles.h, the Winograd forward tiles in winograd_tiles.h. This file is
// compiled once per instruction-set level, in that level's namespace
// (cpu_level.h); LevelPasses() at the end is the table cpu_dispatch.cc calls,
// with the depthwise passes of depthwise_cpu.cc. The forward pass also runs
// grouped convolutions other than depthwise (a tile's GEMM per group, each
// over a copy of its group's channels of the windows); their gradients
// run the dense passes once per group (grouped_cpu.cc).
#include <algorithm>
#include <cstring>
#include <mutex>
#include <type_traits>
#include <utility>
#include <vector>

#include "cc/kernels/core/cpu_level.h"
#include "cc/kernels/core/cpu_passes.h"
#include "cc/kernels/core/cpu_tiles.h"
#include "cc/kernels/core/depthwise_cpu.h"
#include "cc/kernels/core/filter_grad_parts.h"
#include "cc/kernels/core/bf16_pair_passes.h"
#include "cc/kernels/core/gemm_kernel.h"
#include "cc/kernels/core/gemm_simd.h"
#include "cc/kernels/core/output_pages.h"
#include "cc/kernels/core/tile_prefetch.h"
#include "cc/kernels/core/winograd_tiles.h"

namespace conv1d {
inline namespace TF_CONV1D_LEVEL_NAMESPACE {
using namespace cpu_tiles;  // NOLINT: the passes' own building blocks

template <typename T>
void ForwardPass(const Conv1DGeometry& g, const ActivationSpec& act, const T* input,
                 const T* filter, const T* bias, T* output, T* preactivation,
                 const ParallelRunner& runner);

namespace {

// The shortest run of a group's channels (bytes) that a grouped forward tile
// copies out before its GEMM (GroupWindows); measured on Zen 4, one thread,
// copy against none: 16 and 8 of 256 channels per group 1.27x and 1.0x, 4 of
// 256 0.9x, 2 of 64 0.84x.
constexpr int64_t kMinCopiedGroupBytes = 32;

// The length of a tile's products (a forward tile's depth K * Cin per group,
// a filter-gradient tile's kernel rows, an input-gradient phase's taps x
// Cout) from which they run long enough to fetch the next tile under them;
// shorter ones pay the prefetch's instructions for little (one thread,
// core_ab.sh, forward: sensor, depth 27, 0.89x with it; pointwise, depth
// 256, 1.04 to 1.07x, and 1.06 to 1.17x on two threads from a cold cache,
// pass_threads.cc).
constexpr int64_t kPrefetchMinDepth = 128;

// Input gradient for few input channels (less than a register panel), where
// the phase form would waste most of each panel: cols = dz x filter^T, one
// row of K * Cin per output row, then added onto the input rows its taps
// read (output rows ascending, a fixed order). Tiles are runs of input rows; the
// few output rows two tiles share are computed by both.
template <typename T, typename A>
void BackpropInputByColumns(const Conv1DGeometry& g, const ActivationSpec& act,
                            const T* filter, const T* grad_output, const T* operand,
                            T* grad_input, const ParallelRunner& runner) {
  const int64_t cin = g.in_channels, cout = g.out_channels;
  const int64_t s = g.stride, d = g.dilation, pad = g.pad_left, kernel = g.kernel_size;
  const int64_t inner = kernel * cin;
  const int64_t in_item = g.in_steps * cin, out_item = g.out_steps * cout;
  const std::vector<A> packed = PackPanels<A>(
      cout, inner, [&](int64_t co, int64_t j) { return static_cast<A>(filter[j * cout + co]); });
  std::vector<DepthBlock> blocks;
  SplitBlock(0, 0, cout, &blocks);
  // Per input row about 1 / s output rows of cols and dz.
  const int64_t tile = TileRows<A>(CeilDiv((inner + cout) * sizeof(A), s) + cin * sizeof(A),
                                   g.in_steps, g.batch, 4096);
  const int64_t tiles_per_item = CeilDiv(g.in_steps, tile);
  const int64_t max_out_rows =
      std::min<int64_t>(g.out_steps, (tile - 1 + g.kernel_extent - 1) / s + 2);
  std::vector<int64_t> row_offset(max_out_rows);
  for (int64_t m = 0; m < max_out_rows; ++m) row_offset[m] = m * cout;
  const bool dz_is_dy = act.kind == Activation::kLinear && std::is_same_v<T, A> &&
                        g.layout == Layout::kNWC;

  runner.For(g.batch * tiles_per_item, 2 * CeilDiv(tile, s) * inner * cout + tile * inner,
             [&](int64_t begin, int64_t end) {
    std::vector<A> dz_scratch, cols, acc;
    for (int64_t unit = begin; unit < end; ++unit) {
      const int64_t n = unit / tiles_per_item;
      const int64_t i0 = (unit % tiles_per_item) * tile;
      const int64_t rows = std::min(tile, g.in_steps - i0);
      // Output rows reaching input rows [i0, i0 + rows).
      const int64_t o_lo = std::max<int64_t>(0, CeilDivSigned(i0 + pad - (kernel - 1) * d, s));
      const int64_t o_hi = std::min<int64_t>(g.out_steps, FloorDiv(i0 + rows - 1 + pad, s) + 1);
      const int64_t out_rows = std::max<int64_t>(0, o_hi - o_lo);
      if (out_rows > 0) {
        const A* dz = DzRows<T, A>(g, act, dz_is_dy, grad_output + n * out_item,
                                   operand + n * out_item, o_lo, out_rows, cout, &dz_scratch);
        cols.resize(out_rows * inner);
        GemmBlocks<A>(blocks, out_rows, inner, dz, row_offset.data(), packed.data(), cout,
                      cols.data(), inner, nullptr, Activation::kLinear, A(0));
      }
      // Overlap-add: output row o adds tap k's columns to input row
      // o * s - pad + k * d, for the rows inside this tile.
      acc.assign(rows * cin, A(0));
      for (int64_t o = o_lo; o < o_hi; ++o) {
        const int64_t base = o * s - pad - i0;  // tile row of tap 0
        const A* src = cols.data() + (o - o_lo) * inner;
        if (d == 1) {  // the taps' rows are adjacent: one contiguous run
          const int64_t k_lo = std::max<int64_t>(0, -base);
          const int64_t k_hi = std::min<int64_t>(kernel, rows - base);
          A* dst = acc.data() + (base + k_lo) * cin;
          const A* run = src + k_lo * cin;
          for (int64_t j = 0; j < (k_hi - k_lo) * cin; ++j) dst[j] += run[j];
        } else {
          for (int64_t k = 0; k < kernel; ++k) {
            const int64_t row = base + k * d;
            if (row < 0 || row >= rows) continue;
            A* dst = acc.data() + row * cin;
            for (int64_t c = 0; c < cin; ++c) dst[c] += src[k * cin + c];
          }
        }
      }
      StoreRows<T, A>(acc.data(), cin, rows, cin, g.in_steps, g.layout, i0, 1,
                      grad_input + n * in_item);
    }
  });
}

// dz = dy * activation'(operand), element-wise in either layout, in fixed
// chunks (results do not depend on the threads): dy itself for a linear
// activation, else computed into *buffer. bfloat16's is computed in float
// and rounded once, as the stock layer's gradient takes dy in the dtype.
template <typename T>
const T* DzOfWholeOutput(const Conv1DGeometry& g, const ActivationSpec& act,
                         const T* grad_output, const T* operand, const ParallelRunner& runner,
                         std::vector<T>* buffer) {
  if (act.kind == Activation::kLinear) return grad_output;
  constexpr int64_t kChunk = 1 << 16;
  const int64_t total = g.output_elements();
  buffer->resize(total);
  runner.For(CeilDiv(total, kChunk), 4 * kChunk, [&](int64_t begin, int64_t end) {
    using A = typename AccumulatorOf<T>::type;
    std::vector<A> chunk;
    for (int64_t i = begin; i < end; ++i) {
      const int64_t first = i * kChunk, count = std::min(kChunk, total - first);
      if constexpr (std::is_same_v<T, A>) {
        ActivationGradRow<T, T>(act, grad_output + first, operand + first, count, UnitStride(),
                                buffer->data() + first);
      } else {
        chunk.resize(count);
        ActivationGradRow<T, A>(act, grad_output + first, operand + first, count, UnitStride(),
                                chunk.data());
        ConvertValues(chunk.data(), count, buffer->data() + first);
      }
    }
  });
  return buffer->data();
}

// Without dilation the input gradient is a forward convolution of dz (with
// stride 1: dz padded by K - 1 - pad_left steps on the left, the filter
// flipped and transposed), or, with a larger stride, one per residue of the
// input steps modulo the stride (BackpropInputInBf16Phases). Where that
// convolution qualifies for the Winograd tiles (stride 1), it runs as one
// (the phase form below would be a direct one), and for bfloat16 where it
// runs on AVX512_BF16's dot products instead (bf16_pair_passes.h); false
// otherwise, with nothing done. dz goes through a T buffer: for bfloat16 it
// is rounded to bfloat16 there (the phase form below keeps dz in float).
template <typename T>
bool BackpropInputAsForward(const Conv1DGeometry& g, const ActivationSpec& act,
                            const T* filter, const T* grad_output, const T* operand,
                            T* grad_input, const ParallelRunner& runner) {
  if (g.dilation != 1) return false;
  std::vector<T> dz_buffer;
  if (g.stride != 1) {
    if constexpr (std::is_same_v<T, Eigen::bfloat16>) {
      if (!Bf16PairsApplyToPhases(g)) return false;
      const T* dz = DzOfWholeOutput(g, act, grad_output, operand, runner, &dz_buffer);
      BackpropInputInBf16Phases(g, filter, dz, grad_input, runner);
      return true;
    }
    return false;
  }
  Conv1DGeometry f = g;
  f.in_steps = g.out_steps;
  f.in_channels = g.out_channels;
  f.out_channels = g.in_channels;
  f.out_steps = g.in_steps;
  f.pad_left = g.kernel_extent - 1 - g.pad_left;
  bool as_forward;
  if constexpr (std::is_same_v<T, Eigen::bfloat16>) {
    as_forward = Bf16PairsApply(f);
  } else {
    as_forward = WinogradAppliesToInputGradient(f);
  }
  if (!as_forward) return false;
  const int64_t k = g.kernel_size, cin = g.in_channels, cout = g.out_channels;
  std::vector<T> flipped(g.filter_elements());
  for (int64_t j = 0; j < k; ++j) {
    for (int64_t ci = 0; ci < cin; ++ci) {
      for (int64_t co = 0; co < cout; ++co) {
        flipped[(j * cout + co) * cin + ci] = filter[((k - 1 - j) * cin + ci) * cout + co];
      }
    }
  }
  const T* dz = DzOfWholeOutput(g, act, grad_output, operand, runner, &dz_buffer);
  ForwardPass<T>(f, ActivationSpec(), dz, flipped.data(), nullptr, grad_input, nullptr, runner);
  return true;
}

}  // namespace

template <typename T>
void ForwardPass(const Conv1DGeometry& g, const ActivationSpec& act,
                 const T* input, const T* filter, const T* bias,
                 T* output, T* preactivation,
                 const ParallelRunner& runner) {
  using A = typename AccumulatorOf<T>::type;
  constexpr int64_t kNr = gemm::Tile<A>::kNr;
  if (g.output_elements() == 0) return;
  if constexpr (std::is_same_v<T, Eigen::bfloat16>) {
    // Ahead of Winograd too: the dot products' direct sums beat float
    // Winograd tiles on the benchmark's shapes (docs/performance.md).
    if (Bf16PairsApply(g)) {
      ForwardInBf16Pairs(g, act, input, filter, bias, output, preactivation, runner);
      return;
    }
  }
  const int64_t cin = g.in_channels, cout = g.out_channels, s = g.stride;
  // Group j: input channels [j * cin_g, ...) of each window, output columns
  // [j * cout_g, ...) of the tile, its own packed filter and bias.
  const int64_t groups = g.groups, cin_g = g.group_in_channels(), cout_g = g.group_out_channels();
  const int64_t inner = g.kernel_size * cin_g;
  const int64_t group_panels = gemm::Panels<A>(cout_g);
  const int64_t in_item = g.in_steps * cin, out_item = g.out_steps * cout;
  const bool winograd = groups == 1 && WinogradApplies(g);
  PreferHugePages(output, g.output_elements() * sizeof(T));
  PreferHugePages(preactivation, preactivation ? g.output_elements() * sizeof(T) : 0);
  const std::vector<std::vector<A>> winograd_u =
      winograd ? WinogradFilters<T, A>(g, filter) : std::vector<std::vector<A>>();
  // The filter as the direct tiles read it, group after group: with
  // Winograd, only packed if a tile needs it.
  std::vector<A> packed;
  std::once_flag packed_once;
  const auto direct_filter = [&]() {
    std::call_once(packed_once, [&] {
      packed.reserve(groups * group_panels * inner * kNr);
      for (int64_t j = 0; j < groups; ++j) {
        const std::vector<A> group = PackPanels<A>(inner, cout_g, [&](int64_t k, int64_t n) {
          return static_cast<A>(filter[k * cout + j * cout_g + n]);
        });
        packed.insert(packed.end(), group.begin(), group.end());
      }
    });
    return packed.data();
  };
  std::vector<A> bias_padded(groups * group_panels * kNr, A(0));
  for (int64_t c = 0; c < cout && bias != nullptr; ++c) {
    bias_padded[c / cout_g * group_panels * kNr + c % cout_g] = static_cast<A>(bias[c]);
  }

  const int64_t tile =
      winograd ? WinogradTileRows<A>(g)
               : TileRows<A>((s * cin + cout) * sizeof(A), g.out_steps, g.batch, 288);
  const int64_t tiles_per_item = CeilDiv(g.out_steps, tile);
  // A group's windows are read from a copy of its channels alone
  // (GroupWindows) where its runs are kMinCopiedGroupBytes or longer; shorter runs
  // (ResNeXt's 4 channels per group) lost 2 to 16% to the copy and are read
  // in place. `window_channels` is the channel pitch of what the GEMM reads.
  const bool copy_groups = groups > 1 && cin_g * int64_t{sizeof(A)} >= kMinCopiedGroupBytes;
  const int64_t window_channels = copy_groups ? cin_g : cin;
  // Adjacent taps make one window row (a group's only in its copy); dilated
  // ones runs dilation * window_channels apart in the slab (whose offsets are
  // only formed where a slab can be used).
  std::vector<DepthBlock> blocks;
  if ((g.dilation == 1 || g.kernel_size == 1) && window_channels == cin_g) {
    SplitBlock(0, 0, inner, &blocks);
  } else {
    const bool slab_possible = SlabPossible(g, tile);
    TapBlocks(0, slab_possible ? g.dilation * window_channels : 0, 0, g.kernel_size, cin_g,
              &blocks);
  }
  // Gathered windows ([rows, K * window_channels]) hold the taps
  // window_channels apart.
  std::vector<DepthBlock> gathered_blocks;
  if (window_channels == cin_g) {
    gathered_blocks = GatheredBlocks(blocks);
  } else {
    TapBlocks(0, cin, 0, g.kernel_size, cin_g, &gathered_blocks);
  }
  const bool fuse = InRegisters(act.kind) && preactivation == nullptr;
  const Activation fused = fuse ? act.kind : Activation::kLinear;
  const bool in_place = std::is_same_v<T, A> && g.layout == Layout::kNWC;
  const std::vector<std::vector<DepthBlock>> winograd_blocks =
      winograd ? WinogradBlocks(g) : std::vector<std::vector<DepthBlock>>();

  runner.For(g.batch * tiles_per_item, 2 * tile * inner * cout,
             [&](int64_t begin, int64_t end) {
    std::vector<A> window_scratch, group_scratch, acc;
    std::vector<int64_t> row_offset(tile);
    WinogradScratch<A> winograd_scratch;
    for (int64_t unit = begin; unit < end; ++unit) {
      const int64_t n = unit / tiles_per_item;
      const int64_t o0 = (unit % tiles_per_item) * tile;
      const int64_t rows = std::min(tile, g.out_steps - o0);
      A* c;
      if constexpr (std::is_same_v<T, A>) {
        c = in_place ? output + n * out_item + o0 * cout : nullptr;
      }
      if (!in_place) {
        acc.resize(rows * cout);
        c = acc.data();
      }
      // With Winograd tiles, the next unit's input (and output, written in
      // place) fetched over this one's GEMMs, one step per register tile,
      // from the depth the direct tiles' prefetch starts at.
      TilePrefetch next_winograd_tile;
      if (!winograd_u.empty() && unit + 1 < end && inner >= kPrefetchMinDepth) {
        const int64_t register_tiles = WinogradRegisterTiles<A>(winograd_blocks, g, rows);
        next_winograd_tile = PrefetchOfTile(g, input, in_place ? output : nullptr, unit + 1,
                                            tile, register_tiles);
      }
      if (winograd_u.empty() ||
          !WinogradTile<T, A>(g, input + n * in_item, o0, rows, winograd_u, winograd_blocks,
                              bias_padded.data(), fuse ? act : ActivationSpec(), c,
                              &winograd_scratch, &next_winograd_tile)) {
        const Windows<A> w =
            TileWindows<T, A>(g, input + n * in_item, o0, rows, &window_scratch);
        const Windows<A> form = copy_groups ? GroupForm(g, w, rows) : w;
        for (int64_t r = 0; r < rows; ++r) row_offset[r] = r * form.row_pitch;
        const std::vector<DepthBlock>& tile_blocks = form.gathered ? gathered_blocks : blocks;
        // The next unit's tile, fetched while this one's products compute.
        TilePrefetch next_tile;
        if (unit + 1 < end && inner >= kPrefetchMinDepth) {
          const int64_t register_tiles = groups * static_cast<int64_t>(tile_blocks.size()) *
                                         group_panels * (rows / gemm::Tile<A>::kMr);
          next_tile = PrefetchOfTile(g, input, in_place ? output : nullptr, unit + 1, tile,
                                     register_tiles);
        }
        for (int64_t j = 0; j < groups; ++j) {
          const A* windows = copy_groups ? GroupWindows(g, w, form, rows, j, &group_scratch)
                                         : w.data + j * cin_g;
          GemmBlocks<A>(tile_blocks, rows, cout_g, windows,
                        row_offset.data(), direct_filter() + j * group_panels * inner * kNr,
                        inner, c + j * cout_g, cout, bias_padded.data() + j * group_panels * kNr,
                        fused, static_cast<A>(act.negative_slope), &next_tile);
        }
      }
      FinishForwardTile<T, A>(g, act, c, n, o0, rows, fuse, in_place, output, preactivation);
    }
  });
}

template <typename T>
void BackpropInputPass(const Conv1DGeometry& g,
                       const ActivationSpec& act, const T* filter,
                       const T* grad_output, const T* operand,
                       T* grad_input, const ParallelRunner& runner) {
  using A = typename AccumulatorOf<T>::type;
  if (g.input_elements() == 0) return;
  const int64_t cin = g.in_channels, cout = g.out_channels;
  const int64_t s = g.stride, d = g.dilation, pad = g.pad_left;
  // Fewer input channels than a register panel holds: the column form
  // fills its panels with K * Cin columns instead.
  constexpr int64_t kNr = gemm::Tile<A>::kNr;
  const auto panel_use = [](int64_t cols) {
    return static_cast<double>(cols) / static_cast<double>(RoundUp(cols, kNr));
  };
  const bool few_channels = cin < kNr && panel_use(g.kernel_size * cin) > panel_use(cin);
  // bfloat16's dot products would fill as little of each panel, after a pass
  // over all of dz; the column form computes dz a tile at a time (one thread,
  // 9 input channels: 1.29x with relu, 1.02x linear).
  if constexpr (std::is_same_v<T, A> || std::is_same_v<T, Eigen::bfloat16>) {
    if (!(std::is_same_v<T, Eigen::bfloat16> && few_channels) &&
        BackpropInputAsForward(g, act, filter, grad_output, operand, grad_input, runner)) {
      return;
    }
  }
  const int64_t in_item = g.in_steps * cin, out_item = g.out_steps * cout;
  PreferHugePages(grad_input, g.input_elements() * sizeof(T));
  // The phase form reads a run of (K - 1) d / s + R dz rows per tile; the
  // column form (bounded by one item's output rows) when that run would
  // exceed a whole item: dilations much larger than the output.
  const bool sparse = (g.kernel_size - 1) * (d / s) > g.out_steps;
  if (sparse || few_channels) {
    BackpropInputByColumns<T, A>(g, act, filter, grad_output, operand, grad_input, runner);
    return;
  }

  // Input row i sits at p = i + pad_left; tap k carries dz row (p - k d) / s
  // to it when that is whole. Per residue r = p mod s that has taps (at most
  // K of the s): its taps, ordered by q = (r - k d) / s ascending, so that
  // output row m / s + q of a tile is the q-shifted run of dz rows; and those
  // taps' transposed filters. Rows of the other residues get zeros.
  struct Phase {
    int64_t residue = 0;
    std::vector<DepthBlock> blocks;
    std::vector<A> packed;  // [taps * Cout, Cin] in panels
    int64_t depth = 0;
  };
  // Taps sorted by residue, descending within one: each phase's taps are a
  // contiguous run, found in O(K log K) for any stride (a scan of all taps
  // per residue costs K x min(K, s)).
  std::vector<std::pair<int64_t, int64_t>> by_residue(g.kernel_size);  // (residue, -k)
  for (int64_t k = 0; k < g.kernel_size; ++k) by_residue[k] = {(k * d) % s, -k};
  std::sort(by_residue.begin(), by_residue.end());
  std::vector<Phase> phases;
  int64_t q_min = 0;
  for (size_t first = 0, last; first < by_residue.size(); first = last) {
    const int64_t r = by_residue[first].first;
    std::vector<int64_t> taps;
    for (last = first; last < by_residue.size() && by_residue[last].first == r; ++last) {
      taps.push_back(-by_residue[last].second);
    }
    Phase& ph = phases.emplace_back();
    ph.residue = r;
    ph.depth = static_cast<int64_t>(taps.size()) * cout;
    ph.packed = PackPanels<A>(ph.depth, cin, [&](int64_t k, int64_t n) {
      return static_cast<A>(filter[(taps[k / cout] * cin + n) * cout + k % cout]);
    });
    // A phase's taps are equally spaced (s / gcd(s, d) apart), so their dz
    // runs are too: one run of adjacent rows, or taps spaced further.
    const int64_t q0 = (r - taps[0] * d) / s;
    const int64_t spacing = taps.size() > 1 ? (taps[0] - taps[1]) * d / s : 1;
    q_min = std::min(q_min, q0);
    if (spacing == 1) {
      SplitBlock(q0 * cout, 0, ph.depth, &ph.blocks);
    } else {
      TapBlocks(q0 * cout, spacing * cout, 0, static_cast<int64_t>(taps.size()), cout,
                &ph.blocks);
    }
  }
  // dz rows a tile of R rows per phase reads: [t R + q_min, t R + R).
  const int64_t max_rows = CeilDiv(g.in_steps + pad, s);
  const int64_t tile = TileRows<A>((cout + s * cin) * sizeof(A), max_rows, g.batch, 288);
  const int64_t tile_first = pad / (tile * s), tile_end = CeilDiv(pad + g.in_steps, tile * s);
  const int64_t tiles_per_item = tile_end - tile_first;
  std::vector<int64_t> row_offset(tile);
  for (int64_t m = 0; m < tile; ++m) row_offset[m] = m * cout;
  const bool in_place = std::is_same_v<T, A> && g.layout == Layout::kNWC;
  const bool dz_is_dy = act.kind == Activation::kLinear && in_place;

  int64_t register_tiles = 0, deepest = 0;
  for (const Phase& ph : phases) {
    register_tiles += static_cast<int64_t>(ph.blocks.size()) * gemm::Panels<A>(cin) *
                      (tile / gemm::Tile<A>::kMr);
    deepest = std::max(deepest, ph.depth);
  }
  const bool prefetch = g.layout == Layout::kNWC && deepest >= kPrefetchMinDepth;
  // What dz is computed from besides dy: nothing for a linear activation.
  const T* dz_operand = act.kind == Activation::kLinear ? nullptr : operand;

  runner.For(g.batch * tiles_per_item, 2 * tile * g.kernel_size * cout * cin + 1,
             [&](int64_t begin, int64_t end) {
    std::vector<A> dz_scratch, acc;
    for (int64_t unit = begin; unit < end; ++unit) {
      const int64_t n = unit / tiles_per_item;
      const int64_t t = tile_first + unit % tiles_per_item;
      const int64_t dz_first = t * tile + q_min, dz_count = tile - q_min;
      const T* dy_item = grad_output + n * out_item;
      const A* dz = DzRows<T, A>(g, act, dz_is_dy, dy_item, operand + n * out_item, dz_first,
                                 dz_count, cout, &dz_scratch);
      // The next unit's dz rows, fetched while this one's products compute
      // (one thread, core_ab.sh: pointwise 1.10x; its rows of grad_input
      // fetched for writing as well: no better, and 0.94x with dilation 4).
      TilePrefetch next_tile;
      if (prefetch && unit + 1 < end) {
        // Its dz rows as DzRows clips them.
        const int64_t n1 = (unit + 1) / tiles_per_item;
        const int64_t t1 = tile_first + (unit + 1) % tiles_per_item;
        const int64_t first = std::clamp<int64_t>(t1 * tile + q_min, 0, g.out_steps);
        const int64_t last = std::clamp<int64_t>(t1 * tile + tile, first, g.out_steps);
        PrefetchGradientRows(grad_output, dz_operand, n1 * out_item + first * cout,
                             (last - first) * cout, register_tiles, &next_tile);
      }
      const A* dz_rows = dz - q_min * cout;  // row m of the tile
      size_t next_phase = 0;
      for (int64_t r = 0; r < s; ++r) {
        const Phase* ph = nullptr;
        if (next_phase < phases.size() && phases[next_phase].residue == r) {
          ph = &phases[next_phase++];
        }
        const int64_t p0 = t * tile * s + r;  // p of the tile's row 0 in this phase
        const int64_t m_lo = std::max<int64_t>(0, CeilDivSigned(pad - p0, s));
        const int64_t m_hi = std::min<int64_t>(tile, CeilDivSigned(pad + g.in_steps - p0, s));
        if (m_hi <= m_lo) continue;
        const int64_t rows = m_hi - m_lo;
        const int64_t i_first = p0 + m_lo * s - pad;
        A* c;
        int64_t ldc;
        if constexpr (std::is_same_v<T, A>) {
          c = grad_input + n * in_item + i_first * cin;
          ldc = s * cin;
        }
        if (!in_place) {
          acc.resize(rows * cin);
          c = acc.data();
          ldc = cin;
        }
        if (ph == nullptr) {
          for (int64_t m = 0; m < rows; ++m) std::fill(c + m * ldc, c + m * ldc + cin, A(0));
        } else {
          GemmBlocks<A>(ph->blocks, rows, cin, dz_rows, row_offset.data() + m_lo,
                        ph->packed.data(), ph->depth, c, ldc, nullptr, Activation::kLinear, A(0),
                        &next_tile);
        }
        if (!in_place) {
          StoreRows<T, A>(c, cin, rows, cin, g.in_steps, g.layout, i_first, s,
                          grad_input + n * in_item);
        }
      }
    }
  });
}

// The filter gradient's A operand: kernel row i (a (tap, channel) pair) of
// window k, read down the steps. In place, a row's values of successive k
// lie a row pitch apart; a pitch that is a multiple of 1 KiB (256 float
// channels) maps a tile's k onto 4 of the 64 L1 sets, so the kernel's reads
// come from L2. There, when Cout is large enough to pay for the copy (one
// element per Cout FMAs), the windows are packed per block of kMr rows into
// [tile][kMr] runs that the kernel reads in order. (Measured: at a 1 KiB
// pitch packing gains ~30%; at 512 bytes it loses; docs/performance.md.)
template <typename A>
class PackedWindows {
 public:
  PackedWindows(int64_t inner, int64_t tile, const std::vector<int64_t>& slab_offset,
                const std::vector<int64_t>& gathered_offset)
      : inner_(inner), tile_(tile), slab_offset_(slab_offset),
        gathered_offset_(gathered_offset), packed_offset_(inner),
        slab_runs_(RunsOf(slab_offset)), gathered_runs_(RunsOf(gathered_offset)) {
    for (int64_t i = 0; i < inner; ++i) {
      packed_offset_[i] = (i / kMr) * tile * kMr + i % kMr;
    }
  }

  // The operand for the windows w of `rows` steps; packs into *scratch when
  // that pays.
  gemm::RowsOf<A> Operand(const Windows<A>& w, int64_t rows, int64_t cout,
                          std::vector<A>* scratch) const {
    const std::vector<int64_t>& offset = w.gathered ? gathered_offset_ : slab_offset_;
    gemm::RowsOf<A> a;
    const int64_t pitch_bytes = w.row_pitch * static_cast<int64_t>(sizeof(A));
    if (pitch_bytes % 1024 != 0 || cout < 128) {
      a.data = w.data;
      a.row_offset = offset.data();
      a.k_stride = w.row_pitch;
      return a;
    }
    scratch->resize(CeilDiv(inner_, kMr) * tile_ * kMr);
    const std::vector<int64_t>& runs = w.gathered ? gathered_runs_ : slab_runs_;
    const int64_t whole_runs = static_cast<int64_t>(runs.size());
    const int64_t run_pitch = tile_ * kMr;  // between the runs of one window
    for (int64_t k = 0; k < rows; ++k) {
      const A* window = w.data + k * w.row_pitch;
      A* run = scratch->data() + k * kMr;
      // A block whose kMr rows are one tap's adjacent channels is a copy of
      // constant size (std::copy_n became a memmove call per 6 values, 10%
      // of the pass), from offsets found once per pass (checked per run and
      // window, they were half of the copy's time).
      for (int64_t b = 0; b < whole_runs; ++b) {
        if (runs[b] >= 0) {
          std::memcpy(run + b * run_pitch, window + runs[b], kMr * sizeof(A));
        } else {
          for (int64_t j = 0; j < kMr; ++j) run[b * run_pitch + j] = window[offset[b * kMr + j]];
        }
      }
      for (int64_t i = whole_runs * kMr; i < inner_; ++i) {
        run[whole_runs * run_pitch + i % kMr] = window[offset[i]];
      }
    }
    a.data = scratch->data();
    a.row_offset = packed_offset_.data();
    a.k_stride = kMr;
    return a;
  }

 private:
  static constexpr int64_t kMr = gemm::Tile<A>::kMr;

  // Per whole block of kMr rows: the offset of its first row where its rows
  // are adjacent, -1 where they are not.
  static std::vector<int64_t> RunsOf(const std::vector<int64_t>& offset) {
    std::vector<int64_t> runs(offset.size() / kMr);
    for (size_t b = 0; b < runs.size(); ++b) {
      const int64_t first = offset[b * kMr];
      runs[b] = offset[b * kMr + kMr - 1] - first == kMr - 1 ? first : -1;
    }
    return runs;
  }

  const int64_t inner_, tile_;
  const std::vector<int64_t>& slab_offset_;
  const std::vector<int64_t>& gathered_offset_;
  std::vector<int64_t> packed_offset_;
  const std::vector<int64_t> slab_runs_, gathered_runs_;
};

// dz's `rows` rows of panels * kNr columns copied into the kernel's panel
// layout (a panel's rows contiguous), each column's sum added to sums[column]
// on the way. The sums are held in vector registers: as an array the compiler
// kept them in memory, a store and reload per row (half of the copy's time in
// the pointwise filter gradient). Each column is still summed row by row.
template <typename A>
void PanelsWithColumnSums(const A* dz, int64_t rows, int64_t panels, A* out, A* sums) {
  using S = gemm::Simd<A>;
  constexpr int64_t kNr = gemm::Tile<A>::kNr, kLanes = gemm::Tile<A>::kLanes;
  static_assert(gemm::Tile<A>::kVectors == 2, "two vectors of sums per panel");
  for (int64_t p = 0; p < panels; ++p) {
    typename S::V low = S::Zero(), high = S::Zero();
    const A* src = dz + p * kNr;
    A* dst = out + p * rows * kNr;
    for (int64_t r = 0; r < rows; ++r, src += panels * kNr, dst += kNr) {
      const typename S::V a = S::Load(src), b = S::Load(src + kLanes);
      S::Store(dst, a);
      S::Store(dst + kLanes, b);
      low = S::Add(low, a);
      high = S::Add(high, b);
    }
    S::Store(sums + p * kNr, S::Add(S::Load(sums + p * kNr), low));
    S::Store(sums + p * kNr + kLanes, S::Add(S::Load(sums + p * kNr + kLanes), high));
  }
}

template <typename T>
void BackpropFilterPass(const Conv1DGeometry& g,
                        const ActivationSpec& act, const T* input,
                        const T* grad_output, const T* operand,
                        T* grad_filter, T* grad_bias,
                        const ParallelRunner& runner) {
  using A = typename AccumulatorOf<T>::type;
  constexpr int64_t kNr = gemm::Tile<A>::kNr;
  const int64_t cin = g.in_channels, cout = g.out_channels, s = g.stride;
  const int64_t inner = g.kernel_size * cin;
  const int64_t cout_padded = gemm::Panels<A>(cout) * kNr;
  const int64_t in_item = g.in_steps * cin, out_item = g.out_steps * cout;
  bool bf16_pairs = false;
  if constexpr (std::is_same_v<T, Eigen::bfloat16>) bf16_pairs = Bf16PairsApplyToFilterGrad(g);
  // Rows per tile = the depth of one gemm call: its dz panel stays in L1.
  // Deep calls matter more here than many tiles (C is read and written per
  // call), so small batches get 8 tiles rather than 16. The bfloat16 pairs'
  // tiles hold bfloat16 windows, and on AMX their C goes through the tiles
  // once per call: twice the steps (one thread, core_ab.sh: text_cnn 1.13 to
  // 1.15x, resnet 1.08 to 1.16x, pointwise 1.09x, downsampling 0.95 to 1.02x).
  const int64_t tile = TileRows<A>(s * cin * (bf16_pairs ? sizeof(T) : sizeof(A)),
                                   std::max<int64_t>(g.out_steps, 1),
                                   g.batch, bf16_pairs ? 512 : 256, kMinUnits / 2,
                                   bf16_pairs ? PairTileMultiple() : gemm::Tile<A>::kMr);
  const int64_t tiles_per_item = CeilDiv(g.out_steps, tile);
  const int64_t units = g.batch * tiles_per_item;

  // Sums [inner, cout_padded] + bias [cout_padded] per part.
  FilterGradParts<A> parts(inner, cout_padded, units);

  // Kernel row i = (tap, channel) of the windows (see TileWindows), read
  // down the steps.
  std::vector<int64_t> slab_offset(inner), gathered_offset(inner);
  const bool slab_possible = SlabPossible(g, tile);
  for (int64_t i = 0; i < inner; ++i) {
    slab_offset[i] = slab_possible ? (i / cin) * g.dilation * cin + i % cin : 0;
    gathered_offset[i] = i;
  }
  const PackedWindows<A> packing(inner, tile, slab_offset, gathered_offset);
  const bool dz_is_dy = act.kind == Activation::kLinear && std::is_same_v<T, A> &&
                        g.layout == Layout::kNWC && cout == cout_padded;
  // What dz is computed from besides dy: nothing for a linear activation.
  const T* dz_operand = act.kind == Activation::kLinear ? nullptr : operand;

  runner.For(parts.parts(), 2 * CeilDiv(units, parts.parts()) * tile * inner * cout,
             [&](int64_t begin, int64_t end) {
    std::vector<A> slab_scratch, dz_scratch, dz_panels, windows_packed;
#if defined(__AVX512F__)
    Bf16PairTileScratch pair_scratch;
#endif
    for (int64_t part = begin; part < end; ++part) {
      parts.Start(part);
      A* dw = parts.Filter(part);
      A* db = parts.Bias(part);
      for (int64_t unit = parts.FirstUnit(part); unit < parts.FirstUnit(part + 1); ++unit) {
        const int64_t n = unit / tiles_per_item;
        const int64_t o0 = (unit % tiles_per_item) * tile;
        const int64_t rows = std::min(tile, g.out_steps - o0);
#if defined(__AVX512F__)
        if constexpr (std::is_same_v<T, Eigen::bfloat16>) {
          if (bf16_pairs) {  // bf16_pair_passes.h
            TilePrefetch next_tile;  // as the float tiles' below
            if (unit + 1 < parts.FirstUnit(part + 1) && inner >= kPrefetchMinDepth) {
              const int64_t register_tiles =
                  CeilDiv(inner + 1, gemm::Tile<float>::kMr) * gemm::Panels<float>(cout);
              next_tile = PrefetchOfFilterGradTile<T>(g, input, grad_output, dz_operand,
                                                      unit + 1, tile, register_tiles);
            }
            AddFilterGradTileInBf16Pairs(g, act, input + n * in_item, grad_output + n * out_item,
                                         operand + n * out_item, o0, rows, RoundUp(tile, 2),
                                         cout_padded, dw, &pair_scratch, &next_tile);
            continue;
          }
        }
#endif
        // (dz_is_dy implies Cout == cout_padded.)
        const A* dz = DzRows<T, A>(g, act, dz_is_dy, grad_output + n * out_item,
                                   operand + n * out_item, o0, rows, cout_padded, &dz_scratch);
        const Windows<A> w = TileWindows<T, A>(g, input + n * in_item, o0, rows, &slab_scratch);
        // dz in the kernel's panel layout: a panel's rows are contiguous, so
        // it stays in L1 whatever Cout is (rows cout_padded apart would map
        // onto few L1 sets when that is a power of two). The bias sums are
        // taken on the way, a panel's columns summed in registers (summed
        // into db row by row, they cost 3% of the pointwise pass).
        const int64_t panels = cout_padded / kNr;
        dz_panels.resize(panels * rows * kNr);
        PanelsWithColumnSums(dz, rows, panels, dz_panels.data(), db);
        gemm::Epilogue<A> e;
        e.accumulate = true;
        // The next unit's input and gradient rows, fetched while this one's
        // products compute, where its register tiles are many enough (one
        // per kMr kernel rows and panel) to spread them over (one thread,
        // core_ab.sh: pointwise and resnet 1.09x, sensor, 27 rows, 0.92x).
        TilePrefetch next_tile;
        if (unit + 1 < parts.FirstUnit(part + 1) && inner >= kPrefetchMinDepth) {
          const int64_t register_tiles = CeilDiv(inner, gemm::Tile<A>::kMr) * panels;
          next_tile = PrefetchOfFilterGradTile<T>(g, input, grad_output, dz_operand, unit + 1,
                                                  tile, register_tiles);
          e.prefetch = &next_tile;
        }
        const gemm::RowsOf<A> columns = packing.Operand(w, rows, cout, &windows_packed);
        gemm::Gemm<A>(inner, cout, rows, columns, dz_panels.data(), kNr, rows * kNr, dw,
                      cout_padded, e);
      }
    }
  });

  parts.Finish(runner, cout, grad_filter, grad_bias);
}

template <typename T>
constexpr PassesOf<T> kPasses{&ForwardPass<T>,          &BackpropInputPass<T>,
                               &BackpropFilterPass<T>,   &DepthwiseForwardPass<T>,
                               &DepthwiseBackpropInputPass<T>, &DepthwiseBackpropFilterPass<T>};

const CpuPasses& LevelPasses() {
#define CONV1D_LEVEL_PASSES(T, CudaT, name) kPasses<T>,
  static constexpr CpuPasses passes{CONV1D_DTYPES(CONV1D_LEVEL_PASSES)};
#undef CONV1D_LEVEL_PASSES
  return passes;
}

}  // namespace TF_CONV1D_LEVEL_NAMESPACE
}  // namespace conv1d
