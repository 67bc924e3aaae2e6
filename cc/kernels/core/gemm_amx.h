// gemm::GemmBf16Pairs on AMX tiles (AMX-BF16: Sapphire Rapids and later),
// where oneDNN, behind the stock layer, runs its bfloat16 convolutions: one
// TDPBF16PS multiplies a 16 x 32 tile of A by a 32 x 16 tile of B, 8192
// multiply-adds, where AVX512_BF16's dot product does 32 (16 times the float
// FMA peak on those cores, against the dot products' 1x there).
//
// The pair panels of GemmBf16Pairs are already AMX's B layout: a panel's
// 32 columns are two B tiles, a pair's row of each 64 bytes, 128 apart.
// The windows are A tiles read in place (a tile loads rows any fixed
// stride apart). Each product holds a 32 x 32 block of C in four tiles
// over its whole depth; what does not fill whole tiles (the last rows
// below 16, the last pairs below 16) goes back to the dot products, and a
// last partial panel goes through a 32 x 32 scratch block.
//
// Sums are float, as the dot products': each pair of products added
// with round-to-nearest-even, bfloat16 denormals read as zero, float
// denormal results flushed to zero. The order differs from the dot
// products', so results differ from theirs by float rounding; they do not
// depend on the tiling or the number of threads.
#ifndef TF_CONV1D_OP_CORE_GEMM_AMX_H_
#define TF_CONV1D_OP_CORE_GEMM_AMX_H_

#include <cstdint>

#include "cc/kernels/core/cpu_level.h"
#include "cc/kernels/core/gemm_kernel.h"

namespace conv1d {
inline namespace TF_CONV1D_LEVEL_NAMESPACE {
namespace gemm {

// Rows of C one product holds in its tiles (two tiles of 16), and, as 16
// pairs, the steps of depth one tile takes: the filter gradient's depth is
// its tile's steps.
constexpr int64_t kAmxBlockRows = 32;

#if defined(__AVX512F__) && defined(__x86_64__)
// Whether GemmBf16Pairs runs this product on the tiles: the CPU allows it
// (cpu_isa::CpuHasAmxBf16), A's rows lie a fixed stride apart with one run
// of pairs each, and there is at least one whole tile of rows and of pairs.
bool AmxTakes(int64_t rows, int64_t pairs, const RowsOf<uint16_t>& a);

// GemmBf16Pairs' product where AmxTakes.
void GemmBf16PairsOnAmx(int64_t rows, int64_t cols, int64_t pairs, const RowsOf<uint16_t>& a,
                        const uint16_t* b, int64_t panel_stride, float* c, int64_t ldc,
                        const Epilogue<float>& e);
#endif

}  // namespace gemm
}  // namespace TF_CONV1D_LEVEL_NAMESPACE
}  // namespace conv1d

#endif  // TF_CONV1D_OP_CORE_GEMM_AMX_H_
