// The filter gradient's sums over the batch and the steps, split into parts
// that threads fill apart and that are added afterwards. Shared by the dense
// and depthwise filter-gradient passes. Private to the core: included by its
// passes only, in their level's namespace (cpu_level.h).
#ifndef TF_CONV1D_OP_CORE_FILTER_GRAD_PARTS_H_
#define TF_CONV1D_OP_CORE_FILTER_GRAD_PARTS_H_

#include <algorithm>
#include <cstdint>
#include <memory>
#include <vector>

#include "cc/kernels/core/float_conversions.h"
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
    sums_.reset(new A[parts_ * block_]);  // zeroed per part by Start
  }

  int64_t parts() const { return parts_; }
  // The units of a part: [FirstUnit(part), FirstUnit(part + 1)).
  int64_t FirstUnit(int64_t part) const { return part * units_ / parts_; }
  // Zeroes a part's block, before its units are summed into it. Called by
  // the thread that fills the part, so that the blocks are zeroed in
  // parallel and each lands in its filler's cache (zeroed by the caller
  // before the parallel loop, the 4 MiB of the pointwise filter gradient's
  // 16 parts took about 1% of its training step).
  void Start(int64_t part) { std::fill_n(Filter(part), block_, A(0)); }
  // A part's filter sums, [filter_rows, pitch], and its bias sums, [pitch].
  A* Filter(int64_t part) { return sums_.get() + part * block_; }
  A* Bias(int64_t part) { return Filter(part) + filter_rows_ * pitch_; }

  // Adds the parts in part order, in parallel over the rows, and writes the
  // first `cols` columns of each row as grad_filter [filter_rows, cols] and
  // grad_bias [cols]. A row at a time, so that the additions vectorize (a
  // value at a time, across parts a block apart, this took a tenth of the
  // text_cnn bfloat16 filter gradient).
  template <typename T>
  void Finish(const ParallelRunner& runner, int64_t cols, T* grad_filter, T* grad_bias) const {
    runner.For(filter_rows_ + 1, 2 * parts_ * pitch_, [&](int64_t begin, int64_t end) {
      std::vector<A> row_sum(cols);
      for (int64_t row = begin; row < end; ++row) {
        std::fill(row_sum.begin(), row_sum.end(), A(0));  // (0 + -0 is 0, as the sum's start)
        for (int64_t part = 0; part < parts_; ++part) {
          const A* src = sums_.get() + part * block_ + row * pitch_;
          for (int64_t c = 0; c < cols; ++c) row_sum[c] += src[c];
        }
        ConvertValues(row_sum.data(), cols, row < filter_rows_ ? grad_filter + row * cols
                                                               : grad_bias);
      }
    });
  }

 private:
  int64_t filter_rows_, pitch_, units_, block_, parts_;
  std::unique_ptr<A[]> sums_;
};

}  // namespace cpu_tiles
}  // namespace TF_CONV1D_LEVEL_NAMESPACE
}  // namespace conv1d

#endif  // TF_CONV1D_OP_CORE_FILTER_GRAD_PARTS_H_
