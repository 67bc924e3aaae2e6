// What an AMX product step costs beyond its TDPBF16PS: one core's rate for
// a 32 x 32 block of C held in four tiles (gemm_amx.cc's form), each step 16
// pairs deep, with its operand tiles loaded from L1 as the library loads
// them, with only half of them loaded, and with none (the products alone).
// The variants run in turn in one process and print their rate as a ratio
// to the products alone: this VM's speed drifts 2 to 3x between minutes, a
// ratio of neighbouring runs does not. See docs/performance.md.
//   g++ -O2 -std=c++17 -I. -DTF_CONV1D_LEVEL_NAMESPACE=bench -o /tmp/amx_steps
//       python/benchmarks/amx_steps.cc
//   /tmp/amx_steps [STEPS] [ROUNDS]
// Needs a CPU with AMX-BF16 and Linux 5.16 or later (the tile data
// permission); prints why otherwise.
#include <immintrin.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <vector>

#include "cc/kernels/core/amx_tiles.h"

using conv1d::amx::ConfigureTiles;
using conv1d::amx::ReleaseTiles;

namespace {

constexpr int64_t kPairRowBytes = 128;  // a 32-column panel's pair row
constexpr int64_t kStepBytes = 16 * kPairRowBytes;  // B's 16 pair rows

enum class Loads { kAll, kHalf, kNone };

// `steps` steps into C's tiles 0 to 3 from A (two row tiles, rows a_stride
// apart) and B (two column tiles side by side): kAll loads the four operand
// tiles of each step, kHalf only the two B tiles (A stays), kNone nothing.
template <Loads L>
__attribute__((target("amx-tile,amx-bf16"), noinline)) void Block(const char* a, int64_t a_stride,
                                                                   const char* b, int64_t steps,
                                                                   float* c) {
  _tile_zero(0);
  _tile_zero(1);
  _tile_zero(2);
  _tile_zero(3);
  _tile_loadd(4, a, a_stride);
  _tile_loadd(5, a + 16 * a_stride, a_stride);
  _tile_loadd(6, b, kPairRowBytes);
  _tile_loadd(7, b + 64, kPairRowBytes);
  for (int64_t q = 0; q < steps; ++q) {
    const char* bq = b + q * kStepBytes;
    const char* aq = a + q * 64;
    if constexpr (L != Loads::kNone) {
      _tile_loadd(6, bq, kPairRowBytes);
      _tile_loadd(7, bq + 64, kPairRowBytes);
    }
    if constexpr (L == Loads::kAll) _tile_loadd(4, aq, a_stride);
    _tile_dpbf16ps(0, 4, 6);
    _tile_dpbf16ps(1, 4, 7);
    if constexpr (L == Loads::kAll) _tile_loadd(5, aq + 16 * a_stride, a_stride);
    _tile_dpbf16ps(2, 5, 6);
    _tile_dpbf16ps(3, 5, 7);
  }
  _tile_stored(0, c, 128);
  _tile_stored(1, c + 16, 128);
  _tile_stored(2, c + 512, 128);
  _tile_stored(3, c + 528, 128);
}

// GFLOP/s of the block, median of 61 runs of 64 blocks.
template <Loads L>
double Rate(const std::vector<uint16_t>& a, const std::vector<uint16_t>& b, int64_t steps,
            float* c) {
  std::vector<double> seconds;
  for (int run = 0; run < 61; ++run) {
    const auto start = std::chrono::steady_clock::now();
    for (int block = 0; block < 64; ++block) {
      Block<L>(reinterpret_cast<const char*>(a.data()), steps * 64,
               reinterpret_cast<const char*>(b.data()), steps, c);
    }
    const std::chrono::duration<double> took = std::chrono::steady_clock::now() - start;
    seconds.push_back(took.count());
  }
  std::sort(seconds.begin(), seconds.end());
  return 64 * 2.0 * 32 * 32 * 32 * steps / seconds[30] / 1e9;
}

double Median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v[v.size() / 2];
}

}  // namespace

int main(int argc, char** argv) {
  const int64_t steps = argc > 1 ? std::atol(argv[1]) : 8;
  const int rounds = argc > 2 ? std::atoi(argv[2]) : 15;
  if (steps < 1 || steps > 64 || rounds < 1) {
    std::fprintf(stderr, "usage: %s [STEPS 1..64] [ROUNDS]\n", argv[0]);
    return 2;
  }
  if (!__builtin_cpu_supports("avx512f") ||
      syscall(SYS_arch_prctl, 0x1023 /* ARCH_REQ_XCOMP_PERM */, 18 /* XTILEDATA */) != 0) {
    std::fprintf(stderr, "no AMX tile data permission here (CPU or kernel)\n");
    return 1;
  }
  // A: 32 rows of `steps` x 16 pairs; B: `steps` steps of one panel. Both
  // stay in L1 for up to 8 steps (16 KiB each).
  std::vector<uint16_t> a(32 * steps * 32, 0x3f80), b(steps * kStepBytes / 2, 0x3f80);
  alignas(64) static float c[32 * 32];
  ConfigureTiles();
  std::vector<double> all, half, none;
  for (int round = 0; round < rounds; ++round) {
    none.push_back(Rate<Loads::kNone>(a, b, steps, c));
    all.push_back(Rate<Loads::kAll>(a, b, steps, c) / none.back());
    half.push_back(Rate<Loads::kHalf>(a, b, steps, c) / none.back());
  }
  ReleaseTiles();
  std::printf("%ld steps: products alone %.0f GFLOP/s (median of %d rounds); as a share of that, "
              "4 tile loads a step %.2f, 2 tile loads a step %.2f\n",
              steps, Median(none), rounds, Median(all), Median(half));
  return 0;
}
