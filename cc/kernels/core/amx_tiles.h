// The AMX tile state as gemm_amx.cc uses it (and python/benchmarks/
// amx_steps.cc, which measures its steps): palette 1, eight tiles of 16
// rows of 64 bytes. x86-64 only; in the level's namespace, as
// everything the passes inline (cpu_level.h). The functions carry their own
// target, so any x86-64 build compiles them; only an AMX CPU runs them.
#ifndef TF_CONV1D_OP_CORE_AMX_TILES_H_
#define TF_CONV1D_OP_CORE_AMX_TILES_H_

#if defined(__x86_64__)
#include <immintrin.h>

#include <cstdint>

#include "cc/kernels/core/cpu_level.h"

namespace conv1d {
inline namespace TF_CONV1D_LEVEL_NAMESPACE {
namespace amx {

constexpr int kTiles = 8;
constexpr int kTileRows = 16;
constexpr int kTileRowBytes = 64;

struct alignas(64) TileConfig {
  uint8_t palette = 1;
  uint8_t start_row = 0;
  uint8_t reserved[14] = {};
  uint16_t bytes_per_row[16] = {};
  uint8_t rows[16] = {};
};

// Every tile kTileRows x kTileRowBytes. Needs the process's permission for
// the tile state (cpu_isa.cc) first.
__attribute__((target("amx-tile"))) inline void ConfigureTiles() {
  TileConfig config;
  for (int t = 0; t < kTiles; ++t) {
    config.bytes_per_row[t] = kTileRowBytes;
    config.rows[t] = kTileRows;
  }
  // GCC 12's _tile_loadconfig tells the compiler it reads 8 bytes of the
  // configuration, which lets it drop the stores to the rest: this barrier
  // makes them all happen first.
  __asm__ volatile("" : : "r"(&config) : "memory");
  _tile_loadconfig(&config);
}

__attribute__((target("amx-tile"))) inline void ReleaseTiles() { _tile_release(); }

}  // namespace amx
}  // namespace TF_CONV1D_LEVEL_NAMESPACE
}  // namespace conv1d
#endif

#endif  // TF_CONV1D_OP_CORE_AMX_TILES_H_
