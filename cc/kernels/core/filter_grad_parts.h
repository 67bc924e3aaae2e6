// The filter gradient's sums over the batch and the steps, split into parts
// that threads fill apart and that are added afterwards. Shared by the dense
// and depthwise filter-gradient passes. Private to the core: included by its
// passes only, in their level's namespace (cpu_level.h).
#ifndef TF_CONV1D_OP_CORE_FILTER_GRAD_PARTS_H_
#define TF_CONV1D_OP_CORE_FILTER_GRAD_PARTS_H_

#include <algorithm>
#include <cstdint>
#include <vector>

#include "cc/kernels/core/parallel_runner.h"

namespace conv1d {
inline namespace TF_CONV1D_LEVEL_NAMESPACE {
namespace cpu_tiles {

// A pass's units of work (its tiles, in order) split into contiguous runs,
// one part each; a part sums its units into its own block of
// [filter_rows + 1, pitch] values (the filter's rows, then the bias's).
// The number of parts depends on the problem alone, never on the threads,
// so every run adds the same values in the same order: the gradient's bits
// do not change with the thread count.
template <typename A>
class FilterGradParts {
 public:
  FilterGradParts(int64_t filter_rows, int64_t pitch, int64_t units)
      : filter_rows_(filter_rows), pitch_(pitch), units_(units),
        block_((filter_rows + 1) * pitch) {
    // As many parts as useful for load balance (16 threads and fewer get an
    // even share), within 64 MiB of sums.
    const int64_t memory_cap = std::max<int64_t>(
        1, (int64_t{64} << 20) / (block_ * static_cast<int64_t>(sizeof(A))));
    parts_ = std::max<int64_t>(1, std::min<int64_t>({units, 16, memory_cap}));
    sums_.assign(parts_ * block_, A(0));
  }

  int64_t parts() const { return parts_; }
  // The units of a part: [FirstUnit(part), FirstUnit(part + 1)).
  int64_t FirstUnit(int64_t part) const { return part * units_ / parts_; }
  // A part's filter sums, [filter_rows, pitch], and its bias sums, [pitch].
  A* Filter(int64_t part) { return sums_.data() + part * block_; }
  A* Bias(int64_t part) { return Filter(part) + filter_rows_ * pitch_; }

  // Adds the parts in part order, in parallel over the values, and writes
  // the first `cols` columns of each row as grad_filter [filter_rows, cols]
  // and grad_bias [cols].
  template <typename T>
  void Finish(const ParallelRunner& runner, int64_t cols, T* grad_filter, T* grad_bias) const {
    runner.For(block_, 2 * parts_, [&](int64_t begin, int64_t end) {
      for (int64_t e = begin; e < end; ++e) {
        const int64_t row = e / pitch_, col = e % pitch_;
        if (col >= cols) continue;
        A sum = A(0);
        for (int64_t part = 0; part < parts_; ++part) sum += sums_[part * block_ + e];
        T* out = row < filter_rows_ ? grad_filter + row * cols : grad_bias;
        out[col] = static_cast<T>(sum);
      }
    });
  }

 private:
  int64_t filter_rows_, pitch_, units_, block_, parts_;
  std::vector<A> sums_;
};

}  // namespace cpu_tiles
}  // namespace TF_CONV1D_LEVEL_NAMESPACE
}  // namespace conv1d

#endif  // TF_CONV1D_OP_CORE_FILTER_GRAD_PARTS_H_
