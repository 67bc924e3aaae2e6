// The layer both core benchmark programs (core_ab.cc, pass_threads.cc) take
// first on their command line, in one order:
//   BATCH STEPS IN_CH FILTERS KERNEL STRIDE DILATION PADDING
// PADDING is valid, same or causal. Groups and the rest are each program's.
#ifndef TF_CONV1D_OP_PYTHON_BENCHMARKS_GEOMETRY_ARGS_H_
#define TF_CONV1D_OP_PYTHON_BENCHMARKS_GEOMETRY_ARGS_H_

#include <cstdlib>
#include <string>

#include "cc/kernels/core/conv1d_geometry.h"

namespace geometry_args {

constexpr int kCount = 8;
constexpr const char* kUsage = "BATCH STEPS IN_CH FILTERS KERNEL STRIDE DILATION PADDING";

// The layer of args[0 .. kCount); unresolved (ResolveGeometry checks it).
// False for a padding it does not know.
inline bool Parse(char** args, conv1d::Conv1DGeometry* g) {
  g->batch = std::atol(args[0]);
  g->in_steps = std::atol(args[1]);
  g->in_channels = std::atol(args[2]);
  g->out_channels = std::atol(args[3]);
  g->kernel_size = std::atol(args[4]);
  g->stride = std::atol(args[5]);
  g->dilation = std::atol(args[6]);
  const std::string padding = args[7];
  if (padding == "valid") g->padding = conv1d::Padding::kValid;
  else if (padding == "same") g->padding = conv1d::Padding::kSame;
  else if (padding == "causal") g->padding = conv1d::Padding::kCausal;
  else return false;
  return true;
}

}  // namespace geometry_args

#endif  // TF_CONV1D_OP_PYTHON_BENCHMARKS_GEOMETRY_ARGS_H_
