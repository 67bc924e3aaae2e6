// A small GEMM for the convolution passes: C (+)= A x B with the matrices
// addressed the way a convolution finds them in memory, so no im2col copy is
// needed.
//
//   A(r, k) = a[row_offset[r] + t * tap_stride + j * k_stride]
//             (r < rows, k = t * depth + j, t < taps, j < depth)
//   B(k, n) = b[(n / kNr) * panel_stride + k * ldb + n % kNr]
//             (columns in panels of kNr, zero-padded to whole panels)
//   C(r, n) = c[r * ldc + n]                    (n < cols)
//
// Row offsets make the forward windows (rows of overlapping input steps),
// the filter-gradient operand (input channels of all taps, read down the
// steps) and the input-gradient windows all plain calls; taps make a
// dilated window (runs of channels tap_stride apart) one call too. A register-tiled
// kMr x kNr micro-kernel does the arithmetic; each C element is summed in a
// fixed order (k ascending within a call), whatever the tiling around it.
#ifndef TF_CONV1D_OP_CORE_GEMM_KERNEL_H_
#define TF_CONV1D_OP_CORE_GEMM_KERNEL_H_

#include <cstdint>

#include "cc/kernels/core/activations.h"
#include "cc/kernels/core/cpu_level.h"
#include "cc/kernels/core/tile_prefetch.h"

namespace conv1d {
inline namespace TF_CONV1D_LEVEL_NAMESPACE {
namespace gemm {

template <typename A>
struct Epilogue {
  const A* bias = nullptr;  // padded to whole panels; added when !accumulate
  bool accumulate = false;  // C += A x B, else C = A x B (+ bias)
  // Applied in registers after the last depth block: an activation with
  // InRegisters (activations.h), else kLinear and the caller applies it.
  Activation fused = Activation::kLinear;
  A negative_slope = A(0);  // kLeakyRelu
  // Stepped once per register tile: the next tile of the pass fetched
  // while this product computes.
  TilePrefetch* prefetch = nullptr;
  // GemmBf16Pairs only: where set, C's final values (activated) are rounded
  // to bfloat16 there (raw bits, rows `narrow_ld` apart) and c is scratch.
  // On AMX each block is rounded from L1 as its tiles finish it, where a
  // pass of its own over a float C took a fifth of the pointwise forward.
  uint16_t* narrow = nullptr;
  int64_t narrow_ld = 0;
};

// SIMD width: AVX-512 in the avx512 level's copy, AVX2 with FMA in the avx2
// level's, else 16-byte GCC vectors (SSE, NEON, or scalar code on other
// targets): each copy is compiled with its level's -march (cpu_isa.h).
#if defined(__AVX512F__)
constexpr int kVectorBytes = 64;
#elif defined(__AVX__) && defined(__FMA__)
constexpr int kVectorBytes = 32;
#else
constexpr int kVectorBytes = 16;
#endif

// Register tile: kMr rows x kVectors vectors of columns (kNr), 12
// accumulators, which leaves room in 16 vector registers for two B vectors
// and one A. With AVX-512's 32 registers, 24 accumulators were tried (12
// rows, or 4 vectors with shallower depth blocks): within 4% either way on
// the benchmark shapes, at about 88% of the FMA peak on one core.
template <typename A>
struct Tile {
  static constexpr int kLanes = kVectorBytes / static_cast<int>(sizeof(A));
  static constexpr int kMr = 6;
  static constexpr int kVectors = 2;
  static constexpr int kNr = kVectors * kLanes;
};

// Where A's elements lie (see the top of this file).
template <typename A>
struct RowsOf {
  const A* data = nullptr;
  const int64_t* row_offset = nullptr;
  int64_t k_stride = 1;
  int64_t taps = 1;
  int64_t tap_stride = 0;
};

// `depth` is per tap: the product sums over taps * depth values of k.
template <typename A>
void Gemm(int64_t rows, int64_t cols, int64_t depth, const RowsOf<A>& a, const A* b,
          int64_t ldb, int64_t panel_stride, A* c, int64_t ldc, const Epilogue<A>& epilogue);

#if defined(__AVX512F__)
// The same product with A and B in bfloat16 (raw bits), summed in float on
// AVX512_BF16's dot products (twice the float kernel's multiply-adds per
// instruction), over `pairs` pairs of depth values: A(r, 2q) and A(r, 2q + 1)
// adjacent in memory (k_stride counts elements: 2 for a contiguous row), B
// packed by PackBf16PairPanels. Only where cpu_isa::CpuHasBf16Dot(): the
// x86-64-v4 level's copy holds it, but that level does not imply the
// instructions.
constexpr bool kHasBf16Pairs = true;
// Elements of a packed B panel per pair of depth values: kNr columns x 2.
constexpr int64_t kBf16PairPanelRow = 2 * Tile<float>::kNr;
void GemmBf16Pairs(int64_t rows, int64_t cols, int64_t pairs, const RowsOf<uint16_t>& a,
                   const uint16_t* b, int64_t panel_stride, float* c, int64_t ldc,
                   const Epilogue<float>& e);
// B for GemmBf16Pairs from float rows (`rows` x `cols`, `ld` apart; the pairs
// over the rows), each value rounded to bfloat16 (to nearest even, denormals
// to zero): the layout of PackBf16PairPanels, at dst.
void PackBf16PairsOfFloats(const float* src, int64_t rows, int64_t cols, int64_t ld,
                           uint16_t* dst);
#else
constexpr bool kHasBf16Pairs = false;
#endif

// Number of kNr-wide panels that hold `cols` columns.
template <typename A>
int64_t Panels(int64_t cols) {
  return (cols + Tile<A>::kNr - 1) / Tile<A>::kNr;
}

}  // namespace gemm
}  // namespace TF_CONV1D_LEVEL_NAMESPACE
}  // namespace conv1d

#endif  // TF_CONV1D_OP_CORE_GEMM_KERNEL_H_
