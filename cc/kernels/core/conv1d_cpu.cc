// CPU core: every pass is a loop over tiles of rows, each tile one GEMM.
//
// Forward: output rows [o0, o0 + rows) of one batch item are
//   im2col(input)[rows, K * Cin] x filter[K * Cin, Cout]
// (the Keras filter layout is already that matrix). For NWC input with
// dilation 1 the im2col rows are overlapping windows of the input itself, so
// interior tiles are read in place with leading dimension stride * Cin; other
// tiles are gathered into a small per-thread buffer. Bias and activation are
// applied while the output tile is in cache.
//
// Input gradient: input rows are split by phase (i + pad_left) mod stride.
// Rows of one phase receive contributions from a fixed subset of taps, so
// each phase is a stride-1 correlation of dz with those taps' transposed
// filters: no multiplications by the zeros a dilated-dz formulation would have.
//
// Filter gradient: im2col(input)^T x dz, summed over tiles into a fixed
// number of partial sums that are added in a fixed order.
#include "cc/kernels/core/conv1d_cpu.h"

#include <algorithm>
#include <cstring>
#include <type_traits>
#include <vector>

#include "Eigen/Core"

namespace conv1d {
namespace {

// Accumulate half and bfloat16 in float, float in float, double in double.
template <typename T>
struct AccumulatorOf { using type = float; };
template <>
struct AccumulatorOf<double> { using type = double; };

template <typename A>
using RowMatrix = Eigen::Matrix<A, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;
template <typename A>
using ConstMatrixView = Eigen::Map<const RowMatrix<A>, Eigen::Unaligned, Eigen::OuterStride<>>;
template <typename A>
using MatrixView = Eigen::Map<RowMatrix<A>, Eigen::Unaligned, Eigen::OuterStride<>>;

template <typename A>
ConstMatrixView<A> View(const A* data, int64_t rows, int64_t cols, int64_t ld) {
  return ConstMatrixView<A>(data, rows, cols, Eigen::OuterStride<>(ld));
}
template <typename A>
MatrixView<A> View(A* data, int64_t rows, int64_t cols, int64_t ld) {
  return MatrixView<A>(data, rows, cols, Eigen::OuterStride<>(ld));
}

int64_t CeilDiv(int64_t a, int64_t b) { return (a + b - 1) / b; }

// Rows per tile: the gathered tile (rows x inner) and the accumulator tile
// (rows x cols) should stay within about 512 KiB, the L2 share of one core.
template <typename A>
int64_t TileRows(int64_t inner, int64_t cols, int64_t max_rows) {
  const int64_t budget = (512 * 1024 / static_cast<int64_t>(sizeof(A))) /
                         std::max<int64_t>(1, inner + cols);
  const int64_t rows = std::min<int64_t>(std::max<int64_t>(budget, 32), 512);
  return std::max<int64_t>(1, std::min(rows, max_rows));
}

// The filter as an accumulator-typed [K * Cin, Cout] matrix: in place for
// float and double, converted once otherwise.
template <typename T, typename A>
const A* FilterAsAccumulator(const T* filter, int64_t n, std::vector<A>* storage) {
  if constexpr (std::is_same_v<T, A>) {
    return filter;
  } else {
    storage->resize(n);
    for (int64_t i = 0; i < n; ++i) (*storage)[i] = static_cast<A>(filter[i]);
    return storage->data();
  }
}

// Forward-pass rows [o0, o0 + rows) of im2col(input) for one batch item.
// Returns a pointer to the tile and its leading dimension: the input itself
// when the windows are contiguous in memory, else `scratch` after gathering.
template <typename T, typename A>
const A* InputWindows(const Conv1DGeometry& g, const T* x, int64_t o0,
                      int64_t rows, A* scratch, int64_t* ld) {
  const int64_t cin = g.in_channels;
  const int64_t inner = g.kernel_size * cin;
  const int64_t first = o0 * g.stride - g.pad_left;
  const int64_t last_end = (o0 + rows - 1) * g.stride - g.pad_left + g.kernel_extent;
  if constexpr (std::is_same_v<T, A>) {
    const bool contiguous_windows =
        g.layout == Layout::kNWC && (g.dilation == 1 || g.kernel_size == 1);
    if (contiguous_windows && first >= 0 && last_end <= g.in_steps) {
      *ld = g.stride * cin;
      return x + first * cin;
    }
  }
  const int64_t step_stride = g.step_stride(cin);
  const int64_t channel_stride = g.channel_stride(g.in_steps);
  for (int64_t r = 0; r < rows; ++r) {
    const int64_t base = (o0 + r) * g.stride - g.pad_left;
    A* dst_row = scratch + r * inner;
    for (int64_t k = 0; k < g.kernel_size; ++k) {
      const int64_t i = base + k * g.dilation;
      A* dst = dst_row + k * cin;
      if (cin == 0 || i < 0 || i >= g.in_steps) {  // (cin == 0: x may be null)
        std::fill(dst, dst + cin, A(0));
      } else if (channel_stride == 1) {
        const T* src = x + i * step_stride;
        for (int64_t c = 0; c < cin; ++c) dst[c] = static_cast<A>(src[c]);
      } else {
        const T* src = x + i * step_stride;
        for (int64_t c = 0; c < cin; ++c) dst[c] = static_cast<A>(src[c * channel_stride]);
      }
    }
  }
  *ld = inner;
  return scratch;
}

// dz = dy * activation'(operand) for output rows [o0, o0 + rows) of one batch
// item, written as a rows x Cout row-major tile.
template <typename T, typename A>
void ActivationGradTile(const Conv1DGeometry& g, const ActivationSpec& act,
                        const T* dy, const T* operand, int64_t o0, int64_t rows,
                        A* dz) {
  const int64_t cout = g.out_channels;
  const int64_t step_stride = g.step_stride(cout);
  const int64_t channel_stride = g.channel_stride(g.out_steps);
  for (int64_t r = 0; r < rows; ++r) {
    const int64_t base = (o0 + r) * step_stride;
    for (int64_t co = 0; co < cout; ++co) {
      const int64_t at = base + co * channel_stride;
      const A grad = static_cast<A>(dy[at]);
      dz[r * cout + co] =
          act.kind == Activation::kLinear
              ? grad
              : grad * ActivationDerivative<A>(act, static_cast<A>(operand[at]));
    }
  }
}

// Writes a rows x channels accumulator tile to rows [first, first + rows *
// row_step) (every row_step-th step) of a tensor item of the given layout.
template <typename T, typename A>
void StoreRows(const A* tile, int64_t rows, int64_t channels, int64_t steps,
               Layout layout, int64_t first, int64_t row_step, T* item) {
  if (layout == Layout::kNWC) {
    for (int64_t r = 0; r < rows; ++r) {
      T* dst = item + (first + r * row_step) * channels;
      const A* src = tile + r * channels;
      for (int64_t c = 0; c < channels; ++c) dst[c] = static_cast<T>(src[c]);
    }
  } else {
    for (int64_t c = 0; c < channels; ++c) {
      T* dst = item + c * steps + first;
      for (int64_t r = 0; r < rows; ++r) dst[r * row_step] = static_cast<T>(tile[r * channels + c]);
    }
  }
}

}  // namespace

template <typename T>
void FusedConv1DForwardCpu(const Conv1DGeometry& g, const ActivationSpec& act,
                           const T* input, const T* filter, const T* bias,
                           T* output, T* preactivation,
                           const ParallelRunner& runner) {
  using A = typename AccumulatorOf<T>::type;
  if (g.output_elements() == 0) return;
  const int64_t cin = g.in_channels, cout = g.out_channels;
  const int64_t inner = g.kernel_size * cin;
  std::vector<A> filter_storage;
  const A* w = FilterAsAccumulator<T, A>(filter, g.filter_elements(), &filter_storage);
  std::vector<A> bias_acc(cout, A(0));
  if (bias != nullptr) {
    for (int64_t c = 0; c < cout; ++c) bias_acc[c] = static_cast<A>(bias[c]);
  }
  const int64_t tile = TileRows<A>(inner, cout, g.out_steps);
  const int64_t tiles_per_item = CeilDiv(g.out_steps, tile);
  const int64_t in_item = g.in_steps * cin, out_item = g.out_steps * cout;

  runner.For(g.batch * tiles_per_item, 2 * tile * inner * cout,
             [&](int64_t begin, int64_t end) {
    std::vector<A> windows(tile * inner), acc(tile * cout);
    for (int64_t unit = begin; unit < end; ++unit) {
      const int64_t n = unit / tiles_per_item;
      const int64_t o0 = (unit % tiles_per_item) * tile;
      const int64_t rows = std::min(tile, g.out_steps - o0);
      int64_t ld;
      const A* a = InputWindows<T, A>(g, input + n * in_item, o0, rows, windows.data(), &ld);
      auto z = View(acc.data(), rows, cout, cout);
      z.noalias() = View(a, rows, inner, ld) * View(w, inner, cout, cout);
      z.rowwise() += Eigen::Map<const Eigen::Matrix<A, 1, Eigen::Dynamic>>(bias_acc.data(), cout);
      if (preactivation != nullptr) {
        StoreRows<T, A>(acc.data(), rows, cout, g.out_steps, g.layout, o0, 1,
                        preactivation + n * out_item);
      }
      if (act.kind != Activation::kLinear) {
        for (int64_t e = 0; e < rows * cout; ++e) acc[e] = Activate<A>(act, acc[e]);
      }
      StoreRows<T, A>(acc.data(), rows, cout, g.out_steps, g.layout, o0, 1, output + n * out_item);
    }
  });
}

template <typename T>
void FusedConv1DBackpropInputCpu(const Conv1DGeometry& g,
                                 const ActivationSpec& act, const T* filter,
                                 const T* grad_output, const T* operand,
                                 T* grad_input, const ParallelRunner& runner) {
  using A = typename AccumulatorOf<T>::type;
  if (g.input_elements() == 0) return;
  const int64_t cin = g.in_channels, cout = g.out_channels;
  const int64_t s = g.stride, d = g.dilation;
  const int64_t in_item = g.in_steps * cin, out_item = g.out_steps * cout;

  // dz for the whole batch in NWC order: every dz row feeds several input
  // rows, so it is computed once.
  std::vector<A> dz(g.output_elements());
  runner.For(g.batch, 8 * out_item, [&](int64_t begin, int64_t end) {
    for (int64_t n = begin; n < end; ++n) {
      ActivationGradTile<T, A>(g, act, grad_output + n * out_item,
                               operand + n * out_item, 0, g.out_steps,
                               dz.data() + n * out_item);
    }
  });

  // Per phase: its taps (descending, so stride-1 windows run forward in dz),
  // the transposed filters of those taps, and its rows of the input.
  struct Phase {
    std::vector<int64_t> taps;
    std::vector<A> filter_t;  // [taps * Cout, Cin]
    int64_t first_row = 0, rows = 0, tile = 1, tiles = 0, unit_begin = 0;
  };
  std::vector<Phase> phases(s);
  int64_t units = 0;
  for (int64_t ph = 0; ph < s; ++ph) {
    Phase& p = phases[ph];
    for (int64_t k = g.kernel_size - 1; k >= 0; --k) {
      if ((k * d) % s == ph) p.taps.push_back(k);
    }
    p.filter_t.resize(p.taps.size() * cout * cin);
    for (size_t j = 0; j < p.taps.size(); ++j) {
      const T* wk = filter + p.taps[j] * cin * cout;
      for (int64_t c = 0; c < cin; ++c) {
        for (int64_t co = 0; co < cout; ++co) {
          p.filter_t[(j * cout + co) * cin + c] = static_cast<A>(wk[c * cout + co]);
        }
      }
    }
    p.first_row = (((ph - g.pad_left) % s) + s) % s;
    p.rows = p.first_row < g.in_steps ? (g.in_steps - 1 - p.first_row) / s + 1 : 0;
    const int64_t inner = static_cast<int64_t>(p.taps.size()) * cout;
    p.tile = TileRows<A>(inner, cin, std::max<int64_t>(p.rows, 1));
    p.tiles = CeilDiv(p.rows, p.tile);
    p.unit_begin = units;
    units += g.batch * p.tiles;
  }
  const int64_t max_tile = TileRows<A>(g.kernel_size * cout, cin, g.in_steps);

  runner.For(units, 2 * max_tile * g.kernel_size * cout * cin / s + 1,
             [&](int64_t begin, int64_t end) {
    std::vector<A> windows, acc;
    for (int64_t unit = begin; unit < end; ++unit) {
      // The last phase that begins at or before `unit` (binary search: there
      // can be as many phases as input steps).
      const Phase& p = *(std::upper_bound(phases.begin(), phases.end(), unit,
                                          [](int64_t u, const Phase& q) { return u < q.unit_begin; }) - 1);
      const int64_t local = unit - p.unit_begin;
      const int64_t n = local / p.tiles;
      const int64_t m0 = (local % p.tiles) * p.tile;
      const int64_t rows = std::min(p.tile, p.rows - m0);
      const int64_t ntaps = static_cast<int64_t>(p.taps.size());
      const int64_t inner = ntaps * cout;
      const int64_t first_input_row = p.first_row + m0 * s;
      acc.resize(rows * cin);
      if (ntaps == 0) {
        std::fill(acc.begin(), acc.end(), A(0));
      } else {
        const A* dz_item = dz.data() + n * out_item;
        // Output row feeding input row i through tap k: (i + pad - k d) / s.
        const int64_t p_first = first_input_row + g.pad_left;
        const A* a;
        int64_t ld;
        const int64_t o_first = p_first - (g.kernel_size - 1);  // s = d = 1 only
        const int64_t o_last = p_first + (rows - 1);
        if (s == 1 && d == 1 && o_first >= 0 && o_last < g.out_steps) {
          a = dz_item + o_first * cout;
          ld = cout;
        } else {
          windows.resize(rows * inner);
          for (int64_t r = 0; r < rows; ++r) {
            const int64_t pos = p_first + r * s;
            for (int64_t j = 0; j < ntaps; ++j) {
              A* dst = windows.data() + r * inner + j * cout;
              const int64_t o = (pos - p.taps[j] * d) / s;  // exact by phase
              if (pos - p.taps[j] * d < 0 || o >= g.out_steps) {
                std::fill(dst, dst + cout, A(0));
              } else {
                std::memcpy(dst, dz_item + o * cout, cout * sizeof(A));
              }
            }
          }
          a = windows.data();
          ld = inner;
        }
        View(acc.data(), rows, cin, cin).noalias() =
            View(a, rows, inner, ld) * View(p.filter_t.data(), inner, cin, cin);
      }
      StoreRows<T, A>(acc.data(), rows, cin, g.in_steps, g.layout, first_input_row, s,
                      grad_input + n * in_item);
    }
  });
}

template <typename T>
void FusedConv1DBackpropFilterCpu(const Conv1DGeometry& g,
                                  const ActivationSpec& act, const T* input,
                                  const T* grad_output, const T* operand,
                                  T* grad_filter, T* grad_bias,
                                  const ParallelRunner& runner) {
  using A = typename AccumulatorOf<T>::type;
  const int64_t cin = g.in_channels, cout = g.out_channels;
  const int64_t inner = g.kernel_size * cin;
  const int64_t filter_size = g.filter_elements();
  const int64_t in_item = g.in_steps * cin, out_item = g.out_steps * cout;
  const int64_t tile = TileRows<A>(inner, cout, std::max<int64_t>(g.out_steps, 1));
  const int64_t tiles_per_item = CeilDiv(g.out_steps, tile);
  const int64_t units = g.batch * tiles_per_item;
  if (units == 0) {  // nothing to sum: skip the per-thread scratch entirely
    std::fill(grad_filter, grad_filter + filter_size, T(0));
    std::fill(grad_bias, grad_bias + cout, T(0));
    return;
  }

  // Partial sums: as many as useful for load balance, within 64 MiB; the
  // count depends on the problem only, never on the thread count.
  const int64_t partial_size = filter_size + cout;
  const int64_t memory_cap = std::max<int64_t>(
      1, (64 << 20) / (partial_size * static_cast<int64_t>(sizeof(A))));
  const int64_t groups = std::max<int64_t>(1, std::min<int64_t>({units, 16, memory_cap}));
  std::vector<A> partials(groups * partial_size, A(0));

  runner.For(groups, 2 * CeilDiv(units, groups) * tile * inner * cout,
             [&](int64_t begin, int64_t end) {
    std::vector<A> windows(tile * inner), dz(tile * cout);
    for (int64_t group = begin; group < end; ++group) {
      A* dw = partials.data() + group * partial_size;
      auto dw_view = View(dw, inner, cout, cout);
      Eigen::Map<Eigen::Matrix<A, 1, Eigen::Dynamic>> db(dw + filter_size, cout);
      const int64_t first = group * units / groups, last = (group + 1) * units / groups;
      for (int64_t unit = first; unit < last; ++unit) {
        const int64_t n = unit / tiles_per_item;
        const int64_t o0 = (unit % tiles_per_item) * tile;
        const int64_t rows = std::min(tile, g.out_steps - o0);
        ActivationGradTile<T, A>(g, act, grad_output + n * out_item,
                                 operand + n * out_item, o0, rows, dz.data());
        int64_t ld;
        const A* a = InputWindows<T, A>(g, input + n * in_item, o0, rows, windows.data(), &ld);
        const auto dz_view = View(static_cast<const A*>(dz.data()), rows, cout, cout);
        dw_view.noalias() += View(a, rows, inner, ld).transpose() * dz_view;
        // A plain loop, not colwise().sum(): Eigen's reduction order depends
        // on the buffer's alignment, which would make db vary run to run.
        for (int64_t r = 0; r < rows; ++r) {
          for (int64_t co = 0; co < cout; ++co) db[co] += dz[r * cout + co];
        }
      }
    }
  });

  // Add the partials in group order, in parallel over filter elements.
  runner.For(partial_size, 2 * groups, [&](int64_t begin, int64_t end) {
    for (int64_t e = begin; e < end; ++e) {
      A sum = A(0);
      for (int64_t group = 0; group < groups; ++group) sum += partials[group * partial_size + e];
      if (e < filter_size) {
        grad_filter[e] = static_cast<T>(sum);
      } else {
        grad_bias[e - filter_size] = static_cast<T>(sum);
      }
    }
  });
}

#define CONV1D_INSTANTIATE(T)                                                 \
  template void FusedConv1DForwardCpu<T>(                                     \
      const Conv1DGeometry&, const ActivationSpec&, const T*, const T*,       \
      const T*, T*, T*, const ParallelRunner&);                               \
  template void FusedConv1DBackpropInputCpu<T>(                               \
      const Conv1DGeometry&, const ActivationSpec&, const T*, const T*,       \
      const T*, T*, const ParallelRunner&);                                   \
  template void FusedConv1DBackpropFilterCpu<T>(                              \
      const Conv1DGeometry&, const ActivationSpec&, const T*, const T*,       \
      const T*, T*, T*, const ParallelRunner&);

CONV1D_INSTANTIATE(Eigen::half)
CONV1D_INSTANTIATE(Eigen::bfloat16)
CONV1D_INSTANTIATE(float)
CONV1D_INSTANTIATE(double)
#undef CONV1D_INSTANTIATE

}  // namespace conv1d
