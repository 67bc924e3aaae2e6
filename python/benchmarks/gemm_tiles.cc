// The GEMM of one forward tile on one thread, with its A rows hot (the same
// tile again: in L1/L2, as every panel after the first reads them) and cold
// (a fresh tile from a 256 MiB buffer, as the first panel of each tile reads
// the input): how far the micro-kernel is from the FMA peak by itself, and
// what fetching the input costs it. Each trial times a cold call, then the
// same tile hot, so slow minutes of the VM touch both; medians are printed.
//
// Built with the op library's objects of the core, compiled itself for the
// level it calls (the flags and namespace build_tools/cpu_levels.py lists):
//
//   mapfile -t core < <(python -m build_tools.op_library core)
//   g++ ${core[0]} -march=x86-64-v4 -DTF_CONV1D_LEVEL_NAMESPACE=isa_avx512 \
//       python/benchmarks/gemm_tiles.cc "${core[@]:1}" -o /tmp/gemm_tiles
//   /tmp/gemm_tiles [ROWS DEPTH COLS [TRIALS]]    # default: the pointwise tile, 96 256 256
//
// (-march=x86-64-v3 and isa_avx2 for the avx2 level.) Compare with
// fma_peak.cc's figure for the same level, measured in the same minute.
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <vector>

#include "cc/kernels/core/gemm_kernel.h"

using conv1d::gemm::Epilogue;
using conv1d::gemm::Gemm;
using conv1d::gemm::Panels;
using conv1d::gemm::RowsOf;
using conv1d::gemm::Tile;

namespace {

double Median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v[v.size() / 2];
}

}  // namespace

int main(int argc, char** argv) {
  const int64_t rows = argc > 3 ? std::atol(argv[1]) : 96;
  const int64_t depth = argc > 3 ? std::atol(argv[2]) : 256;
  const int64_t cols = argc > 3 ? std::atol(argv[3]) : 256;
  const int trials = argc > 4 ? std::atoi(argv[4]) : 1000;
  constexpr int64_t kNr = Tile<float>::kNr;
  const int64_t tile_elements = rows * depth;
  const int64_t tiles = std::max<int64_t>(2, (int64_t{256} << 20) / (tile_elements * 4));
  std::vector<float> a(tiles * tile_elements, 0.25f);
  std::vector<float> b(Panels<float>(cols) * kNr * depth, 0.5f);
  std::vector<float> bias(Panels<float>(cols) * kNr, 0.0f), c(rows * cols);
  std::vector<int64_t> row_offset(rows);
  for (int64_t r = 0; r < rows; ++r) row_offset[r] = r * depth;
  Epilogue<float> epilogue;
  epilogue.bias = bias.data();
  const auto seconds = [&](const float* tile) {
    RowsOf<float> a_rows;
    a_rows.data = tile;
    a_rows.row_offset = row_offset.data();
    const auto start = std::chrono::steady_clock::now();
    Gemm<float>(rows, cols, depth, a_rows, b.data(), kNr, depth * kNr, c.data(), cols, epilogue);
    return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  };
  std::vector<double> cold, hot, ratio;
  for (int t = 0; t < trials; ++t) {
    const float* tile = a.data() + (t % tiles) * tile_elements;
    const double c_time = seconds(tile);
    const double h_time = std::min(seconds(tile), seconds(tile));
    cold.push_back(c_time);
    hot.push_back(h_time);
    ratio.push_back(c_time / h_time);
  }
  const double gflop = 2.0 * rows * depth * cols / 1e9;
  std::printf("tile %ld x %ld x %ld: hot %.1f GFLOP/s, cold %.1f GFLOP/s, cold/hot time %.2f "
              "(medians of %d trials)\n",
              static_cast<long>(rows), static_cast<long>(depth), static_cast<long>(cols),
              gflop / Median(hot), gflop / Median(cold), Median(ratio), trials);
  return 0;
}
