// How the CPU passes split their work over threads: the OpKernels run it on
// TensorFlow's intra-op pool, the standalone tests serially or on std::threads.
#ifndef TF_CONV1D_OP_CORE_PARALLEL_RUNNER_H_
#define TF_CONV1D_OP_CORE_PARALLEL_RUNNER_H_

#include <cstdint>
#include <functional>

namespace conv1d {

// Runs fn(begin, end) over disjoint ranges that cover [0, units), possibly on
// several threads at once. cost_per_unit is a rough count of operations.
class ParallelRunner {
 public:
  virtual ~ParallelRunner() = default;
  virtual void For(int64_t units, int64_t cost_per_unit,
                   const std::function<void(int64_t, int64_t)>& fn) const = 0;
};

class SerialRunner : public ParallelRunner {
 public:
  void For(int64_t units, int64_t /*cost_per_unit*/,
           const std::function<void(int64_t, int64_t)>& fn) const override {
    if (units > 0) fn(0, units);
  }
};

}  // namespace conv1d

#endif  // TF_CONV1D_OP_CORE_PARALLEL_RUNNER_H_
