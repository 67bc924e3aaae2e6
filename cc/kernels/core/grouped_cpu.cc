#include "cc/kernels/core/grouped_cpu.h"

#include <algorithm>
#include <cstdint>
#include <vector>

#include "cc/kernels/core/dtypes.h"

namespace conv1d {
namespace {

// One group's convolution: its channels only, dense.
Conv1DGeometry GroupGeometry(const Conv1DGeometry& g) {
  Conv1DGeometry sub = g;
  sub.in_channels = g.group_in_channels();
  sub.out_channels = g.group_out_channels();
  sub.groups = 1;
  return sub;
}

// `rows` runs of `width` elements, `from_pitch` apart in `from` and
// `to_pitch` apart in `to`, in parallel over the rows.
template <typename T>
void CopyRuns(int64_t rows, int64_t width, const T* from, int64_t from_pitch, T* to,
              int64_t to_pitch, const ParallelRunner& runner) {
  if (rows == 0 || width == 0) return;  // (empty tensors may be null)
  runner.For(rows, width, [&](int64_t begin, int64_t end) {
    for (int64_t r = begin; r < end; ++r) {
      std::copy(from + r * from_pitch, from + r * from_pitch + width, to + r * to_pitch);
    }
  });
}

// A [batch, steps, channels] tensor (NWC or NCW) seen as the runs that hold
// channels [first, first + count): per step (NWC) or per batch item (NCW).
struct ChannelRuns {
  int64_t rows, width, pitch, offset, group_pitch;

  ChannelRuns(Layout layout, int64_t batch, int64_t steps, int64_t channels, int64_t first,
              int64_t count) {
    const bool nwc = layout == Layout::kNWC;
    rows = nwc ? batch * steps : batch;
    width = nwc ? count : count * steps;
    pitch = nwc ? channels : channels * steps;
    offset = nwc ? first : first * steps;
    group_pitch = width;  // the group's own tensor: the runs back to back
  }

  template <typename T>
  void Gather(const T* whole, T* group, const ParallelRunner& runner) const {
    CopyRuns(rows, width, whole == nullptr ? nullptr : whole + offset, pitch, group,
             group_pitch, runner);
  }
  template <typename T>
  void Scatter(const T* group, T* whole, const ParallelRunner& runner) const {
    CopyRuns(rows, width, group, group_pitch, whole == nullptr ? nullptr : whole + offset,
             pitch, runner);
  }
};

ChannelRuns InputRuns(const Conv1DGeometry& g, int64_t group) {
  const int64_t count = g.group_in_channels();
  return ChannelRuns(g.layout, g.batch, g.in_steps, g.in_channels, group * count, count);
}

ChannelRuns OutputRuns(const Conv1DGeometry& g, int64_t group) {
  const int64_t count = g.group_out_channels();
  return ChannelRuns(g.layout, g.batch, g.out_steps, g.out_channels, group * count, count);
}

// The filter [K, Cin / groups, Cout]: a group's output columns.
ChannelRuns FilterRuns(const Conv1DGeometry& g, int64_t group) {
  const int64_t count = g.group_out_channels();
  return ChannelRuns(Layout::kNWC, 1, g.kernel_size * g.group_in_channels(), g.out_channels,
                     group * count, count);
}

template <typename T>
T* DataOrNull(std::vector<T>& v) {
  return v.empty() ? nullptr : v.data();
}

}  // namespace

template <typename T>
void GroupedForward(const PassesOf<T>& dense, const Conv1DGeometry& g,
                    const ActivationSpec& act, const T* input, const T* filter, const T* bias,
                    T* output, T* preactivation, const ParallelRunner& runner) {
  const Conv1DGeometry sub = GroupGeometry(g);
  std::vector<T> x(sub.input_elements()), w(sub.filter_elements()), y(sub.output_elements());
  std::vector<T> z(preactivation != nullptr ? sub.output_elements() : 0);
  for (int64_t j = 0; j < g.groups; ++j) {
    InputRuns(g, j).Gather(input, DataOrNull(x), runner);
    FilterRuns(g, j).Gather(filter, DataOrNull(w), runner);
    dense.forward(sub, act, DataOrNull(x), DataOrNull(w),
                  bias != nullptr ? bias + j * sub.out_channels : nullptr, DataOrNull(y),
                  preactivation != nullptr ? DataOrNull(z) : nullptr, runner);
    OutputRuns(g, j).Scatter(DataOrNull(y), output, runner);
    if (preactivation != nullptr) OutputRuns(g, j).Scatter(DataOrNull(z), preactivation, runner);
  }
}

template <typename T>
void GroupedBackpropInput(const PassesOf<T>& dense, const Conv1DGeometry& g,
                          const ActivationSpec& act, const T* filter, const T* grad_output,
                          const T* operand, T* grad_input, const ParallelRunner& runner) {
  const Conv1DGeometry sub = GroupGeometry(g);
  std::vector<T> w(sub.filter_elements()), dy(sub.output_elements()),
      operand_g(sub.output_elements()), dx(sub.input_elements());
  for (int64_t j = 0; j < g.groups; ++j) {
    FilterRuns(g, j).Gather(filter, DataOrNull(w), runner);
    OutputRuns(g, j).Gather(grad_output, DataOrNull(dy), runner);
    OutputRuns(g, j).Gather(operand, DataOrNull(operand_g), runner);
    dense.backprop_input(sub, act, DataOrNull(w), DataOrNull(dy), DataOrNull(operand_g),
                         DataOrNull(dx), runner);
    InputRuns(g, j).Scatter(DataOrNull(dx), grad_input, runner);
  }
}

template <typename T>
void GroupedBackpropFilter(const PassesOf<T>& dense, const Conv1DGeometry& g,
                           const ActivationSpec& act, const T* input, const T* grad_output,
                           const T* operand, T* grad_filter, T* grad_bias,
                           const ParallelRunner& runner) {
  const Conv1DGeometry sub = GroupGeometry(g);
  std::vector<T> x(sub.input_elements()), dy(sub.output_elements()),
      operand_g(sub.output_elements()), dw(sub.filter_elements()), db(sub.out_channels);
  for (int64_t j = 0; j < g.groups; ++j) {
    InputRuns(g, j).Gather(input, DataOrNull(x), runner);
    OutputRuns(g, j).Gather(grad_output, DataOrNull(dy), runner);
    OutputRuns(g, j).Gather(operand, DataOrNull(operand_g), runner);
    dense.backprop_filter(sub, act, DataOrNull(x), DataOrNull(dy), DataOrNull(operand_g),
                          DataOrNull(dw), DataOrNull(db), runner);
    FilterRuns(g, j).Scatter(DataOrNull(dw), grad_filter, runner);
    std::copy(db.begin(), db.end(), grad_bias + j * sub.out_channels);
  }
}

#define CONV1D_INSTANTIATE_GROUPED(T, CudaT, name)                                          \
  template void GroupedForward<T>(const PassesOf<T>&, const Conv1DGeometry&,                \
                                  const ActivationSpec&, const T*, const T*, const T*, T*, \
                                  T*, const ParallelRunner&);                               \
  template void GroupedBackpropInput<T>(const PassesOf<T>&, const Conv1DGeometry&,          \
                                        const ActivationSpec&, const T*, const T*,          \
                                        const T*, T*, const ParallelRunner&);               \
  template void GroupedBackpropFilter<T>(const PassesOf<T>&, const Conv1DGeometry&,         \
                                         const ActivationSpec&, const T*, const T*,         \
                                         const T*, T*, T*, const ParallelRunner&);
CONV1D_DTYPES(CONV1D_INSTANTIATE_GROUPED)
#undef CONV1D_INSTANTIATE_GROUPED

}  // namespace conv1d
