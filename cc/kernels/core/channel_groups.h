// A grouped convolution's group as a dense convolution of its own: its
// geometry, and where its channels lie in the whole tensors. The CPU and
// CUDA grouped paths (grouped_cpu.cc, conv1d_gpu_groups.cu.cc) copy these
// runs out into the group's own tensors and the results back.
#ifndef TF_CONV1D_OP_CORE_CHANNEL_GROUPS_H_
#define TF_CONV1D_OP_CORE_CHANNEL_GROUPS_H_

#include <cstdint>

#include "cc/kernels/core/conv1d_geometry.h"

namespace conv1d {

// Whether g is depthwise: one input channel per group. The CPU and CUDA
// cores run such convolutions on passes of their own, not group by group.
inline bool IsDepthwise(const Conv1DGeometry& g) {
  return g.groups > 1 && g.groups == g.in_channels;
}

namespace channel_groups {

// One group's convolution: its channels only, dense.
inline Conv1DGeometry GroupGeometry(const Conv1DGeometry& g) {
  Conv1DGeometry sub = g;
  sub.in_channels = g.group_in_channels();
  sub.out_channels = g.group_out_channels();
  sub.groups = 1;
  return sub;
}

// A [batch, steps, channels] tensor (NWC or NCW) seen as the `rows` runs of
// `width` elements, `pitch` apart from `offset` on, that hold channels
// [first, first + count): one per step (NWC) or per batch item (NCW). In the
// group's own tensor the runs lie back to back (pitch `width`).
struct ChannelRuns {
  int64_t rows, width, pitch, offset;

  ChannelRuns(Layout layout, int64_t batch, int64_t steps, int64_t channels, int64_t first,
              int64_t count) {
    const bool nwc = layout == Layout::kNWC;
    rows = nwc ? batch * steps : batch;
    width = nwc ? count : count * steps;
    pitch = nwc ? channels : channels * steps;
    offset = nwc ? first : first * steps;
  }
};

inline ChannelRuns InputRuns(const Conv1DGeometry& g, int64_t group) {
  const int64_t count = g.group_in_channels();
  return ChannelRuns(g.layout, g.batch, g.in_steps, g.in_channels, group * count, count);
}

inline ChannelRuns OutputRuns(const Conv1DGeometry& g, int64_t group) {
  const int64_t count = g.group_out_channels();
  return ChannelRuns(g.layout, g.batch, g.out_steps, g.out_channels, group * count, count);
}

// The filter [K, Cin / groups, Cout]: the group's output columns.
inline ChannelRuns FilterRuns(const Conv1DGeometry& g, int64_t group) {
  const int64_t count = g.group_out_channels();
  return ChannelRuns(Layout::kNWC, 1, g.kernel_size * g.group_in_channels(), g.out_channels,
                     group * count, count);
}

}  // namespace channel_groups
}  // namespace conv1d

#endif  // TF_CONV1D_OP_CORE_CHANNEL_GROUPS_H_
