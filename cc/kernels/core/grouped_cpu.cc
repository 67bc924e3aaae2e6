#include "cc/kernels/core/grouped_cpu.h"

#include <algorithm>
#include <cstdint>
#include <vector>

#include "cc/kernels/core/channel_groups.h"
#include "cc/kernels/core/dtypes.h"

namespace conv1d {
namespace {

using namespace channel_groups;  // NOLINT: the groups this file copies out and back

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

template <typename T>
void Gather(const ChannelRuns& runs, const T* whole, T* group, const ParallelRunner& runner) {
  CopyRuns(runs.rows, runs.width, whole == nullptr ? nullptr : whole + runs.offset, runs.pitch,
           group, runs.width, runner);
}

template <typename T>
void Scatter(const ChannelRuns& runs, const T* group, T* whole, const ParallelRunner& runner) {
  CopyRuns(runs.rows, runs.width, group, runs.width,
           whole == nullptr ? nullptr : whole + runs.offset, runs.pitch, runner);
}

template <typename T>
T* DataOrNull(std::vector<T>& v) {
  return v.empty() ? nullptr : v.data();
}

}  // namespace

template <typename T>
void GroupedBackpropInput(const PassesOf<T>& dense, const Conv1DGeometry& g,
                          const ActivationSpec& act, const T* filter, const T* grad_output,
                          const T* operand, T* grad_input, const ParallelRunner& runner) {
  const Conv1DGeometry sub = GroupGeometry(g);
  std::vector<T> w(sub.filter_elements()), dy(sub.output_elements()),
      operand_g(sub.output_elements()), dx(sub.input_elements());
  for (int64_t j = 0; j < g.groups; ++j) {
    Gather(FilterRuns(g, j), filter, DataOrNull(w), runner);
    Gather(OutputRuns(g, j), grad_output, DataOrNull(dy), runner);
    Gather(OutputRuns(g, j), operand, DataOrNull(operand_g), runner);
    dense.backprop_input(sub, act, DataOrNull(w), DataOrNull(dy), DataOrNull(operand_g),
                         DataOrNull(dx), runner);
    Scatter(InputRuns(g, j), DataOrNull(dx), grad_input, runner);
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
    Gather(InputRuns(g, j), input, DataOrNull(x), runner);
    Gather(OutputRuns(g, j), grad_output, DataOrNull(dy), runner);
    Gather(OutputRuns(g, j), operand, DataOrNull(operand_g), runner);
    dense.backprop_filter(sub, act, DataOrNull(x), DataOrNull(dy), DataOrNull(operand_g),
                          DataOrNull(dw), DataOrNull(db), runner);
    Scatter(FilterRuns(g, j), DataOrNull(dw), grad_filter, runner);
    std::copy(db.begin(), db.end(), grad_bias + j * sub.out_channels);
  }
}

#define CONV1D_INSTANTIATE_GROUPED(T, CudaT, name)                                          \
  template void GroupedBackpropInput<T>(const PassesOf<T>&, const Conv1DGeometry&,          \
                                        const ActivationSpec&, const T*, const T*,          \
                                        const T*, T*, const ParallelRunner&);               \
  template void GroupedBackpropFilter<T>(const PassesOf<T>&, const Conv1DGeometry&,         \
                                         const ActivationSpec&, const T*, const T*,         \
                                         const T*, T*, T*, const ParallelRunner&);
CONV1D_DTYPES(CONV1D_INSTANTIATE_GROUPED)
#undef CONV1D_INSTANTIATE_GROUPED

}  // namespace conv1d
