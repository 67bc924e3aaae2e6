#include "cc/kernels/core/gemm_amx.h"

#if defined(__AVX512F__) && defined(__x86_64__)
#include <immintrin.h>

#include <algorithm>
#include <cstring>
#include <vector>

#include "cc/kernels/core/amx_tiles.h"
#include "cc/kernels/core/cpu_isa.h"
#include "cc/kernels/core/cpu_tiles.h"
#include "cc/kernels/core/float_conversions.h"
#include "cc/kernels/core/gemm_simd.h"
#include "cc/kernels/core/int_division.h"
#endif

namespace conv1d {
inline namespace TF_CONV1D_LEVEL_NAMESPACE {
namespace gemm {

#if defined(__AVX512F__) && defined(__x86_64__)
namespace {

constexpr int64_t kTileRows = kAmxBlockRows / 2;  // rows of an A or C tile
constexpr int64_t kTilePairs = 16;  // pairs of depth values an A row holds (64 bytes)
constexpr int64_t kBlockCols = Tile<float>::kNr;
static_assert(kBlockCols == 32 && kBf16PairPanelRow == 64,
              "a pair panel is two B tiles side by side");
constexpr int64_t kPanelRowBytes = kBf16PairPanelRow * sizeof(uint16_t);

// Tiles (amx_tiles.h) 0 to 3 hold C (row tile x column half), 4 and 5 A,
// 6 and 7 B.
static_assert(amx::kTileRows == kTileRows && amx::kTileRowBytes == kTilePairs * 4,
              "a tile row holds 16 pairs");

enum class Start { kLoad, kBias, kZero };

// One C block of RT row tiles x 32 columns: its start, pair_tiles steps of 16
// pairs from A and B, optionally one more step from a zero-padded tail, the
// store. Strides in bytes.
struct Block {
  const uint16_t* a;
  int64_t a_stride;
  const uint16_t* b;  // the panel's first pair row, kPanelRowBytes apart
  int64_t pair_tiles;
  const uint16_t* a_tail = nullptr;  // 16 pairs a row, a_tail_stride apart
  int64_t a_tail_stride = 0;
  const uint16_t* b_tail = nullptr;  // 16 pair rows of the panel
  float* c;
  int64_t c_stride;
  Start start;
  const float* bias;  // 16 rows of the panel's 32 values, for Start::kBias
};

// One step of 16 pairs: C += A x B on the block's RT row tiles. (Loading
// each operand just before its first product instead, as tiles are not
// renamed: within 4% either way, one thread.)
template <int RT>
__attribute__((target("amx-tile,amx-bf16"), always_inline)) inline void Step(
    const char* a, int64_t a_stride, const char* b) {
  _tile_loadd(6, b, kPanelRowBytes);
  _tile_loadd(7, b + 64, kPanelRowBytes);
  _tile_loadd(4, a, a_stride);
  _tile_dpbf16ps(0, 4, 6);
  _tile_dpbf16ps(1, 4, 7);
  if constexpr (RT == 2) {
    _tile_loadd(5, a + kTileRows * a_stride, a_stride);
    _tile_dpbf16ps(2, 5, 6);
    _tile_dpbf16ps(3, 5, 7);
  }
}

// C's tiles from `c` (rows `stride` bytes apart, the second row tile
// `row_tile` bytes after the first).
template <int RT>
__attribute__((target("amx-tile"), always_inline)) inline void LoadC(const char* c,
                                                                      int64_t stride,
                                                                      int64_t row_tile) {
  _tile_loadd(0, c, stride);
  _tile_loadd(1, c + 64, stride);
  if constexpr (RT == 2) {
    _tile_loadd(2, c + row_tile, stride);
    _tile_loadd(3, c + row_tile + 64, stride);
  }
}

// A finished block of C (`rows` x `cols`, 32 floats apart) activated with F
// and rounded to bfloat16 at out (rows `out_ld` apart), a row at a time.
// AVX512_BF16's conversion (every CPU with AMX-BF16 has it) rounds to nearest
// even as Eigen's cast does, but flushes denormals and keeps NaN payloads,
// so rows holding either go through the bitwise conversion
// (float_conversions.h): the tiles flush denormal sums, so only a leaky
// relu's slope can make one.
template <Activation F>
__attribute__((target("avx512bf16"))) void NarrowBlock(float* block, int64_t rows, int64_t cols,
                                                       float slope, uint16_t* out,
                                                       int64_t out_ld) {
  using S = Simd<float>;
  constexpr int64_t kLanes = Tile<float>::kLanes;
  static_assert(kConversionLanes == kLanes && 2 * kLanes == kBlockCols,
                "a block row is two vectors");
  const S::V slope_vector = S::Set(slope);
  ActivationSpec act;  // for a partial panel's rows
  act.kind = F;
  act.negative_slope = slope;
  for (int64_t r = 0; r < rows; ++r) {
    float* row = block + r * kBlockCols;
    auto* dst = reinterpret_cast<Eigen::bfloat16*>(out + r * out_ld);
    if (cols < kBlockCols) {  // in place: the block is scratch
      cpu_tiles::ActivateRows<float>(act, row, 1, cols, cols);
      ConvertValues(row, cols, dst);
      continue;
    }
    const S::V low = ApplyFused<float, F>(S::Load(row), slope_vector);
    const S::V high = ApplyFused<float, F>(S::Load(row + kLanes), slope_vector);
    constexpr int kNanOrDenormal = 0x01 | 0x20 | 0x80;  // quiet NaN, denormal, signalling NaN
    if ((_mm512_fpclass_ps_mask(low, kNanOrDenormal) |
         _mm512_fpclass_ps_mask(high, kNanOrDenormal)) == 0) {
      _mm512_storeu_si512(dst, (__m512i)_mm512_cvtne2ps_pbh(high, low));
    } else {
      StoreNarrowed(dst, SameBits<ConversionFloats>(low));
      StoreNarrowed(dst + kLanes, SameBits<ConversionFloats>(high));
    }
  }
}

using NarrowRows = void (*)(float* block, int64_t rows, int64_t cols, float slope,
                            uint16_t* out, int64_t out_ld);

// A block whose products are done, finished (activated, rounded to
// bfloat16 or copied to C) a few rows at a time between the steps of the
// next block's products. The tiles compute apart from the vector units, so
// this work overlaps the next block's products, where after its own block's
// store it would keep the tiles idle until it ended.
class PendingBlock {
 public:
  PendingBlock(const Epilogue<float>& e, NarrowRows narrow_rows)
      : e_(e), narrow_rows_(narrow_rows) {
    act_.kind = e.fused;
    act_.negative_slope = e.negative_slope;
  }

  // The block at c (rows c_ld floats apart): rows x cols of C from row r0,
  // column col0. Where copy_to is set, c is scratch and its rows go there
  // (ldc apart).
  void Set(float* c, int64_t c_ld, int64_t rows, int64_t cols, int64_t r0, int64_t col0,
           float* copy_to, int64_t ldc) {
    c_ = c;
    c_ld_ = c_ld;
    rows_ = rows;
    cols_ = cols;
    done_ = 0;
    out_ = e_.narrow != nullptr ? e_.narrow + r0 * e_.narrow_ld + col0 : nullptr;
    copy_to_ = copy_to;
    ldc_ = ldc;
    if (out_ == nullptr && copy_to == nullptr && act_.kind == Activation::kLinear) rows_ = 0;
  }

  int64_t RowsLeft() const { return rows_ - done_; }

  void Advance(int64_t n) {
    const int64_t end = std::min(rows_, done_ + n);
    if (end > done_) FinishRows(done_, end - done_);
    done_ = end;
  }

 private:
  void FinishRows(int64_t r0, int64_t n) {
    float* rows = c_ + r0 * c_ld_;
    if (out_ != nullptr) {
      narrow_rows_(rows, n, cols_, e_.negative_slope, out_ + r0 * e_.narrow_ld, e_.narrow_ld);
      return;
    }
    cpu_tiles::ActivateRows<float>(act_, rows, n, cols_, c_ld_);
    for (int64_t r = 0; r < n && copy_to_ != nullptr; ++r) {
      std::memcpy(copy_to_ + (r0 + r) * ldc_, rows + r * c_ld_, cols_ * sizeof(float));
    }
  }

  const Epilogue<float>& e_;
  const NarrowRows narrow_rows_;
  ActivationSpec act_;
  float* c_ = nullptr;
  int64_t c_ld_ = 0, rows_ = 0, cols_ = 0, done_ = 0;
  uint16_t* out_ = nullptr;
  float* copy_to_ = nullptr;
  int64_t ldc_ = 0;
};

// What runs between the steps of a block's products: the block before's
// rows finished; the next row block's A fetched into L2 (its first panel
// would otherwise wait on memory for each of its tile loads, 16 rows a line
// each), and the caller's next tile (Epilogue::prefetch), each spread
// evenly, since a burst of prefetches stalls the core until its line-fill
// buffers drain.
struct BetweenSteps {
  PendingBlock* pending;
  int64_t pending_rows;  // per step
  SpanPrefetch<false>* next_a;  // a step per step
  TilePrefetch* next_tile;  // may be null
  int64_t next_tile_steps;  // per step

  void Run() const {
    pending->Advance(pending_rows);
    next_a->Step();
    for (int64_t i = 0; i < next_tile_steps; ++i) next_tile->Step();
  }
};

// One block's products, with the work of `between` after each step.
template <int RT>
__attribute__((target("amx-tile,amx-bf16"))) void RunBlock(const Block& k,
                                                          const BetweenSteps& between) {
  char* c = reinterpret_cast<char*>(k.c);
  const int64_t c_next = kTileRows * k.c_stride;
  if (k.start == Start::kLoad) {
    LoadC<RT>(c, k.c_stride, c_next);
  } else if (k.start == Start::kBias) {  // the same 16 rows for both row tiles
    LoadC<RT>(reinterpret_cast<const char*>(k.bias), kBlockCols * sizeof(float), 0);
  } else {
    _tile_zero(0);
    _tile_zero(1);
    if constexpr (RT == 2) {
      _tile_zero(2);
      _tile_zero(3);
    }
  }
  const char* a = reinterpret_cast<const char*>(k.a);
  const char* b = reinterpret_cast<const char*>(k.b);
  for (int64_t q = 0; q < k.pair_tiles; ++q) {
    const char* bq = b + q * kTilePairs * kPanelRowBytes;
    if (q + 1 < k.pair_tiles) {
      const char* bn = bq + kTilePairs * kPanelRowBytes;
#pragma GCC unroll 32
      for (int64_t i = 0; i < kTilePairs * kPanelRowBytes; i += 64) {
        _mm_prefetch(bn + i, _MM_HINT_T0);
      }
    }
    Step<RT>(a + q * 64, k.a_stride, bq);
    between.Run();
  }
  if (k.a_tail != nullptr) {
    Step<RT>(reinterpret_cast<const char*>(k.a_tail), k.a_tail_stride,
             reinterpret_cast<const char*>(k.b_tail));
  }
  _tile_stored(0, c, k.c_stride);
  _tile_stored(1, c + 64, k.c_stride);
  if constexpr (RT == 2) {
    _tile_stored(2, c + c_next, k.c_stride);
    _tile_stored(3, c + c_next + 64, k.c_stride);
  }
}

}  // namespace

bool AmxTakes(int64_t rows, int64_t pairs, const RowsOf<uint16_t>& a) {
  if (rows < 1 || pairs < 1 || a.taps != 1 || a.k_stride != 2 || !cpu_isa::CpuHasAmxBf16()) {
    return false;
  }
  const int64_t pitch = rows > 1 ? a.row_offset[1] - a.row_offset[0] : 0;
  for (int64_t r = 1; r < rows; ++r) {
    if (a.row_offset[r] != a.row_offset[0] + r * pitch) return false;
  }
  return true;
}

void GemmBf16PairsOnAmx(int64_t rows, int64_t cols, int64_t pairs, const RowsOf<uint16_t>& a,
                        const uint16_t* b, int64_t panel_stride, float* c, int64_t ldc,
                        const Epilogue<float>& e) {
  const int64_t pitch = rows > 1 ? a.row_offset[1] - a.row_offset[0] : 0;
  const uint16_t* a0 = a.data + a.row_offset[0];
  const int64_t panels = Panels<float>(cols);
  const int64_t whole_rows = rows / kTileRows * kTileRows, rest_rows = rows - whole_rows;
  const int64_t pair_tiles = pairs / kTilePairs, rest_pairs = pairs - pair_tiles * kTilePairs;
  const int64_t pair_values = 2 * kTilePairs;  // an A tile row's bfloat16 values

  // The last pairs below a tile, zero-padded to one: B's per panel, A's per
  // whole-tile row (in place they would run into the next row or past A).
  std::vector<uint16_t> b_tail, a_tail;
  if (rest_pairs > 0) {
    b_tail.assign(panels * kTilePairs * kBf16PairPanelRow, 0);
    for (int64_t p = 0; p < panels; ++p) {
      std::memcpy(b_tail.data() + p * kTilePairs * kBf16PairPanelRow,
                  b + p * panel_stride + pair_tiles * kTilePairs * kBf16PairPanelRow,
                  rest_pairs * kPanelRowBytes);
    }
    a_tail.assign(whole_rows * pair_values, 0);
    for (int64_t r = 0; r < whole_rows; ++r) {
      std::memcpy(a_tail.data() + r * pair_values, a0 + r * pitch + pair_tiles * pair_values,
                  rest_pairs * 2 * sizeof(uint16_t));
    }
  }
  // The last rows below a tile: copied into one, zero-padded in rows and pairs.
  const int64_t padded_values = (pair_tiles + (rest_pairs > 0)) * pair_values;
  std::vector<uint16_t> a_rest;
  if (rest_rows > 0) {
    a_rest.assign(kTileRows * padded_values, 0);
    for (int64_t r = 0; r < rest_rows; ++r) {
      std::memcpy(a_rest.data() + r * padded_values, a0 + (whole_rows + r) * pitch,
                  2 * pairs * sizeof(uint16_t));
    }
  }

  // The bias as 16 equal rows per panel, which start a C tile as a load: a
  // tile loaded with stride 0 (each row from the same 64 bytes) took a sixth of
  // the pointwise product's time.
  std::vector<float> bias_rows;
  if (!e.accumulate && e.bias != nullptr) {
    bias_rows.resize(panels * kTileRows * kBlockCols);
    for (int64_t p = 0; p < panels; ++p) {
      for (int64_t r = 0; r < kTileRows; ++r) {
        std::memcpy(bias_rows.data() + (p * kTileRows + r) * kBlockCols, e.bias + p * kBlockCols,
                    kBlockCols * sizeof(float));
      }
    }
  }
  // Two scratch blocks: the next block's products run into one while the
  // other's rows are finished.
  alignas(64) float scratch[2][2 * kTileRows * kBlockCols];
  int next_scratch = 0;
  const Start start = e.accumulate ? Start::kLoad : e.bias != nullptr ? Start::kBias : Start::kZero;
  NarrowRows narrow_rows = nullptr;
  if (e.narrow != nullptr) {
    narrow_rows = WithRegisterForm(
        e.fused, [](auto fused) -> NarrowRows { return &NarrowBlock<decltype(fused)::value>; });
  }
  PendingBlock pending(e, narrow_rows);
  SpanPrefetch<false> next_a;
  amx::ConfigureTiles();
  for (int64_t r0 = 0; r0 < rows;) {
    const bool rest = r0 >= whole_rows;
    const int64_t block_rows = rest ? rest_rows : std::min<int64_t>(2 * kTileRows, whole_rows - r0);
    const int row_tiles = rest ? 1 : static_cast<int>(block_rows / kTileRows);
    for (int64_t p = 0; p < panels; ++p) {
      const int64_t col0 = p * kBlockCols, block_cols = std::min(kBlockCols, cols - col0);
      float* target = c + r0 * ldc + col0;
      // Blocks C cannot hold whole (the last rows, a partial panel) go
      // through a scratch block, as do those rounded to bfloat16.
      const bool direct = !rest && block_cols == kBlockCols && e.narrow == nullptr;
      Block k;
      if (rest) {
        k.a = a_rest.data();
        k.a_stride = padded_values * sizeof(uint16_t);
        if (rest_pairs > 0) {
          k.a_tail = a_rest.data() + pair_tiles * pair_values;
          k.a_tail_stride = k.a_stride;
        }
      } else {
        k.a = a0 + r0 * pitch;
        k.a_stride = pitch * sizeof(uint16_t);
        if (rest_pairs > 0) {
          k.a_tail = a_tail.data() + r0 * pair_values;
          k.a_tail_stride = pair_values * sizeof(uint16_t);
        }
      }
      k.b = b + p * panel_stride;
      k.pair_tiles = pair_tiles;
      k.b_tail = rest_pairs > 0 ? b_tail.data() + p * kTilePairs * kBf16PairPanelRow : nullptr;
      k.start = start;
      k.bias = bias_rows.empty() ? nullptr : bias_rows.data() + p * kTileRows * kBlockCols;
      if (direct) {
        k.c = target;
        k.c_stride = ldc * sizeof(float);
      } else {
        float* block = scratch[next_scratch];
        next_scratch ^= 1;
        k.c = block;
        k.c_stride = kBlockCols * sizeof(float);
        if (start == Start::kLoad) {
          for (int64_t r = 0; r < block_rows; ++r) {
            std::memcpy(block + r * kBlockCols, target + r * ldc, block_cols * sizeof(float));
          }
        }
      }
      // The block before's rows, and the next row block's A, spread over
      // this block's steps.
      const int64_t steps = std::max<int64_t>(pair_tiles, 1);
      if (p == 0) {  // its rows lie pitch values apart, 2 * pairs values each
        const int64_t next = r0 + block_rows;
        const int64_t next_rows = std::min(2 * kTileRows, whole_rows - next);
        next_a = next_rows > 0 ? SpanPrefetch<false>(a0 + next * pitch,
                                                     ((next_rows - 1) * pitch + 2 * pairs) *
                                                         int64_t{sizeof(uint16_t)},
                                                     steps * panels)
                               : SpanPrefetch<false>();
      }
      // The caller's prefetch takes as many steps as the register tiles the
      // block replaces.
      const int64_t tile_steps = e.prefetch != nullptr ? CeilDiv(block_rows, Tile<float>::kMr) : 0;
      const BetweenSteps between{&pending, CeilDiv(pending.RowsLeft(), steps), &next_a, e.prefetch,
                                 CeilDiv(tile_steps, steps)};
      if (row_tiles == 2) {
        RunBlock<2>(k, between);
      } else {
        RunBlock<1>(k, between);
      }
      pending.Advance(pending.RowsLeft());
      pending.Set(k.c, k.c_stride / static_cast<int64_t>(sizeof(float)), block_rows, block_cols,
                  r0, col0, direct ? nullptr : target, ldc);
      for (int64_t i = pair_tiles * between.next_tile_steps; i < tile_steps; ++i) {
        e.prefetch->Step();
      }
    }
    r0 += block_rows;
  }
  pending.Advance(pending.RowsLeft());
  amx::ReleaseTiles();
}
#endif

}  // namespace gemm
}  // namespace TF_CONV1D_LEVEL_NAMESPACE
}  // namespace conv1d
