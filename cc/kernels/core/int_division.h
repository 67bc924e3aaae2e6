// Integer division rounded up or down, for tile counts and offsets of the CPU
// passes (cpu_tiles.h, tile_prefetch.h). In the level's namespace, as
// everything the passes inline (cpu_level.h).
#ifndef TF_CONV1D_OP_CORE_INT_DIVISION_H_
#define TF_CONV1D_OP_CORE_INT_DIVISION_H_

#include <cstdint>

#include "cc/kernels/core/cpu_level.h"

namespace conv1d {
inline namespace TF_CONV1D_LEVEL_NAMESPACE {

inline int64_t CeilDiv(int64_t a, int64_t b) { return (a + b - 1) / b; }
inline int64_t RoundUp(int64_t a, int64_t b) { return CeilDiv(a, b) * b; }
// Floor and ceiling of a / b for any sign of a (b > 0).
inline int64_t FloorDiv(int64_t a, int64_t b) {
  return a >= 0 ? a / b : -((-a + b - 1) / b);
}
inline int64_t CeilDivSigned(int64_t a, int64_t b) { return -FloorDiv(-a, b); }

}  // namespace TF_CONV1D_LEVEL_NAMESPACE
}  // namespace conv1d

#endif  // TF_CONV1D_OP_CORE_INT_DIVISION_H_
