// Geometry of a 1D convolution: sizes, padding and the derived output length.
// Framework-free: shared by the TF shape function, the CPU core, the CUDA core
// and the standalone test harnesses.
#ifndef TF_CONV1D_OP_CORE_CONV1D_GEOMETRY_H_
#define TF_CONV1D_OP_CORE_CONV1D_GEOMETRY_H_

#include <cstdint>
#include <string>

namespace conv1d {

enum class Padding { kValid, kSame, kCausal };
enum class Layout { kNWC, kNCW };

// Parses "VALID"/"SAME"/"CAUSAL" and "NWC"/"NCW"; false on an unknown name.
bool ParsePadding(const std::string& name, Padding* out);
bool ParseLayout(const std::string& name, Layout* out);

struct Conv1DGeometry {
  // Given.
  int64_t batch = 0;
  int64_t in_steps = 0;
  int64_t in_channels = 0;
  int64_t kernel_size = 0;
  int64_t out_channels = 0;
  int64_t stride = 1;
  int64_t dilation = 1;
  // Grouped convolution: input and output channels split into `groups`
  // equal groups, output group j reading input group j only. The filter is
  // [kernel_size, in_channels / groups, out_channels]; output channel f is
  // in group f / (out_channels / groups). groups == in_channels is the
  // depthwise convolution.
  int64_t groups = 1;
  Padding padding = Padding::kValid;
  Layout layout = Layout::kNWC;
  // Derived by ResolveGeometry.
  int64_t kernel_extent = 0;  // (kernel_size - 1) * dilation + 1
  int64_t out_steps = 0;
  int64_t pad_left = 0;  // zeros conceptually placed before input step 0

  int64_t input_elements() const { return batch * in_steps * in_channels; }
  int64_t output_elements() const { return batch * out_steps * out_channels; }
  int64_t group_in_channels() const { return in_channels / groups; }
  int64_t group_out_channels() const { return out_channels / groups; }
  int64_t filter_elements() const {
    return kernel_size * group_in_channels() * out_channels;
  }
  // Element strides of the (step, channel) axes of an input or output tensor
  // of this layout with `steps` steps and `channels` channels.
  int64_t step_stride(int64_t channels) const {
    return layout == Layout::kNWC ? channels : 1;
  }
  int64_t channel_stride(int64_t steps) const {
    return layout == Layout::kNWC ? 1 : steps;
  }
};

// Checks the given fields and fills in the derived ones. Returns an empty
// string on success, otherwise a message naming the problem and the shapes
// received. All arithmetic is 64-bit and overflow-checked, so hostile
// attribute values are refused rather than wrapped; on success every index
// into the padded input fits in int64, and so does the product of every
// subset of the dimensions of the input, output and filter: whatever order
// TensorFlow (TensorShape multiplies dimensions left to right, NCW puts
// channels second) or a kernel multiplies them in, an empty tensor included.
// With at most one output step, stride is set to 1 (it affects nothing then).
// groups must be >= 1 and divide in_channels and out_channels.
std::string ResolveGeometry(Conv1DGeometry* g);

// Whether the product of every subset of {a, b, c} fits in int64 (all >= 0).
bool AllProductsFit(int64_t a, int64_t b, int64_t c);

// "[batch, steps, channels]" in the geometry's layout, for messages.
std::string LayoutShapeString(const Conv1DGeometry& g, int64_t steps, int64_t channels);

// The geometry the kernels run, from a resolved one. Without input channels
// no tap multiplies anything: a declared kernel_size and dilation (up to
// 2^63, with the filter empty) must not size any list or loop, so the taps
// collapse to one, at offset 0 of each window (every window then lies
// inside the input), and the groups to one. Output steps are unchanged;
// otherwise g itself.
Conv1DGeometry ComputeGeometry(const Conv1DGeometry& g);

}  // namespace conv1d

#endif  // TF_CONV1D_OP_CORE_CONV1D_GEOMETRY_H_
