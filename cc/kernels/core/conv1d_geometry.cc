#include "cc/kernels/core/conv1d_geometry.h"

#include <limits>

namespace conv1d {
namespace {

constexpr int64_t kMax = std::numeric_limits<int64_t>::max();

bool MulOverflows(int64_t a, int64_t b, int64_t* out) {
  return __builtin_mul_overflow(a, b, out);
}

std::string Str(int64_t v) { return std::to_string(v); }

std::string ShapeString(int64_t a, int64_t b, int64_t c) {
  return "[" + Str(a) + ", " + Str(b) + ", " + Str(c) + "]";
}

const char* LayoutName(Layout layout) {
  return layout == Layout::kNWC ? "NWC" : "NCW";
}

}  // namespace

bool AllProductsFit(int64_t a, int64_t b, int64_t c) {
  int64_t ab, tmp;
  return !MulOverflows(a, b, &ab) && !MulOverflows(a, c, &tmp) &&
         !MulOverflows(b, c, &tmp) && !MulOverflows(ab, c, &tmp);
}

std::string LayoutShapeString(const Conv1DGeometry& g, int64_t steps, int64_t channels) {
  return g.layout == Layout::kNWC ? ShapeString(g.batch, steps, channels)
                                  : ShapeString(g.batch, channels, steps);
}

Conv1DGeometry ComputeGeometry(const Conv1DGeometry& g) {
  if (g.in_channels != 0) return g;
  Conv1DGeometry c = g;
  c.kernel_size = 1;
  c.dilation = 1;
  c.kernel_extent = 1;
  c.pad_left = 0;
  c.groups = 1;  // nothing to split: the output is the bias, activated
  return c;
}

bool ParsePadding(const std::string& name, Padding* out) {
  if (name == "VALID") { *out = Padding::kValid; return true; }
  if (name == "SAME") { *out = Padding::kSame; return true; }
  if (name == "CAUSAL") { *out = Padding::kCausal; return true; }
  return false;
}

bool ParseLayout(const std::string& name, Layout* out) {
  if (name == "NWC") { *out = Layout::kNWC; return true; }
  if (name == "NCW") { *out = Layout::kNCW; return true; }
  return false;
}

std::string ResolveGeometry(Conv1DGeometry* g) {
  if (g->stride < 1) return "stride must be >= 1, got " + Str(g->stride);
  if (g->dilation < 1) return "dilation must be >= 1, got " + Str(g->dilation);
  if (g->kernel_size < 1) {
    return "kernel_size (filter dimension 0) must be >= 1, got " +
           Str(g->kernel_size);
  }
  if (g->out_channels < 1) {
    return "the number of filters (filter dimension 2) must be >= 1, got " +
           Str(g->out_channels);
  }
  if (g->groups < 1) return "groups must be >= 1, got " + Str(g->groups);
  if (g->batch < 0 || g->in_steps < 0 || g->in_channels < 0) {
    return std::string("input dimensions must be non-negative, got input shape ") +
           LayoutShapeString(*g, g->in_steps, g->in_channels) + " (" +
           LayoutName(g->layout) + ")";
  }
  if (g->in_channels % g->groups != 0) {
    return "groups must divide the input channels: expected a divisor of " +
           Str(g->in_channels) + ", got groups " + Str(g->groups);
  }
  if (g->out_channels % g->groups != 0) {
    return "groups must divide the number of filters (filter dimension 2): expected a "
           "divisor of " + Str(g->out_channels) + ", got groups " + Str(g->groups);
  }
  int64_t span;
  if (MulOverflows(g->kernel_size - 1, g->dilation, &span) || span >= kMax) {
    return "(kernel_size - 1) * dilation overflows 64 bits (kernel_size " +
           Str(g->kernel_size) + ", dilation " + Str(g->dilation) + ")";
  }
  g->kernel_extent = span + 1;
  // With one tap the dilation spaces nothing: make it 1, so that no kernel
  // scales a row pitch by a hostile dilation (up to 2^63 - 1).
  if (g->kernel_size == 1) g->dilation = 1;
  const int64_t w = g->in_steps;
  const int64_t s = g->stride;
  switch (g->padding) {
    case Padding::kValid:
      if (w < g->kernel_extent) {
        return "VALID padding needs at least (kernel_size - 1) * dilation + 1 "
               "= " + Str(g->kernel_extent) + " input steps, got " + Str(w);
      }
      g->pad_left = 0;
      g->out_steps = (w - g->kernel_extent) / s + 1;
      break;
    case Padding::kSame: {
      // TF's rule: out = ceil(w / s); the odd padding element goes right.
      g->out_steps = w == 0 ? 0 : (w - 1) / s + 1;
      // (out - 1) * s lies in (w - s, w), so this cannot overflow.
      const int64_t needed =
          g->out_steps == 0 ? 0 : (g->out_steps - 1) * s - w + g->kernel_extent;
      g->pad_left = needed > 0 ? needed / 2 : 0;
      break;
    }
    case Padding::kCausal:
      // Left-pad by the kernel span: output[t] sees input[.. t * stride] only.
      g->pad_left = span;
      g->out_steps = w == 0 ? 0 : (w - 1) / s + 1;
      break;
  }
  // With at most one output step the stride multiplies nothing: make it 1, so
  // that no kernel scales an index by a hostile stride (up to 2^63 - 1) or
  // builds a table per stride phase.
  if (g->out_steps <= 1) g->stride = 1;
  // The kernels index the padded input, [-pad_left, in_steps + kernel_extent):
  // refuse what int64 cannot address (CAUSAL with a dilation near 2^63).
  int64_t tmp;
  if (__builtin_add_overflow(g->pad_left, w, &tmp) ||
      __builtin_add_overflow(tmp, g->kernel_extent, &tmp)) {
    return "the padded input would span more than 2^63 steps (kernel_size " +
           Str(g->kernel_size) + ", dilation " + Str(g->dilation) + ", " +
           Str(w) + " input steps)";
  }
  const std::string layout = std::string(" (") + LayoutName(g->layout) + ")";
  if (!AllProductsFit(g->batch, g->in_steps, g->in_channels)) {
    return "the input's dimensions multiply past 2^63 - 1 (an empty input included): "
           "got input shape " + LayoutShapeString(*g, g->in_steps, g->in_channels) + layout;
  }
  if (!AllProductsFit(g->batch, g->out_steps, g->out_channels)) {
    return "the output's dimensions would multiply past 2^63 - 1 (an empty output "
           "included): output shape " + LayoutShapeString(*g, g->out_steps, g->out_channels) +
           layout + " from input shape " + LayoutShapeString(*g, g->in_steps, g->in_channels) +
           " and filter shape " +
           ShapeString(g->kernel_size, g->group_in_channels(), g->out_channels);
  }
  if (!AllProductsFit(g->kernel_size, g->group_in_channels(), g->out_channels)) {
    return "the filter's dimensions multiply past 2^63 - 1 (an empty filter included): "
           "got filter shape " +
           ShapeString(g->kernel_size, g->group_in_channels(), g->out_channels);
  }
  return "";
}

}  // namespace conv1d
