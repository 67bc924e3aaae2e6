// The tiled implicit-GEMM machinery shared by the three CUDA kernels.
//
// Every pass is C[rows, cols] = sum over a reduction axis of A x B, where A
// and B are gathered from tensors on the fly. A block owns one kM x kN tile
// of C and walks the reduction in kK-deep chunks: each chunk is loaded from
// global memory into registers (coalesced, 16-byte vectors when the sizes
// allow), stored to shared memory, and multiplied there, with two shared
// buffers so the loads of chunk c + 1 overlap the math of chunk c. The tile
// then goes through shared memory once more so the epilogue can write it
// coalesced in either tensor layout.
//
// Math engines: WMMA tensor cores (fp32 accumulation) for half, and for
// bfloat16 on sm_80+; FMA otherwise (float, double, bfloat16 before sm_80).
#ifndef TF_CONV1D_OP_CORE_GPU_TILE_GEMM_H_
#define TF_CONV1D_OP_CORE_GPU_TILE_GEMM_H_

#include <cstdint>
#include <type_traits>

#include "cc/kernels/core/gpu_platform.h"

namespace conv1d {
namespace gpu {

// ---------------------------------------------------------------- numbers

template <typename T>
struct Num;
template <>
struct Num<float> {
  using Acc = float;
  static __device__ __forceinline__ float ToAcc(float v) { return v; }
  static __device__ __forceinline__ float FromAcc(float v) { return v; }
};
template <>
struct Num<double> {
  using Acc = double;
  static __device__ __forceinline__ double ToAcc(double v) { return v; }
  static __device__ __forceinline__ double FromAcc(double v) { return v; }
};
template <>
struct Num<__half> {
  using Acc = float;
  static __device__ __forceinline__ float ToAcc(__half v) { return __half2float(v); }
  static __device__ __forceinline__ __half FromAcc(float v) { return __float2half_rn(v); }
};
template <>
struct Num<__nv_bfloat16> {
  using Acc = float;
  static __device__ __forceinline__ float ToAcc(__nv_bfloat16 v) {
    return __bfloat162float(v);
  }
  static __device__ __forceinline__ __nv_bfloat16 FromAcc(float v) {
    return __float2bfloat16_rn(v);
  }
};

__device__ __forceinline__ float Fma(float a, float b, float c) { return fmaf(a, b, c); }
__device__ __forceinline__ double Fma(double a, double b, double c) { return fma(a, b, c); }

__host__ __device__ __forceinline__ int64_t CeilDiv(int64_t a, int64_t b) {
  return (a + b - 1) / b;
}

// n / d for a divisor fixed per launch and n < 2^31, as a multiply-high and
// a shift (Granlund-Montgomery): the tap/channel split of a reduction index
// happens for every element loaded.
struct FastDivmod {
  uint32_t divisor = 1;
  uint32_t multiplier = 1;
  uint32_t shift = 0;

  static FastDivmod Make(uint32_t d) {  // d >= 1
    FastDivmod f;
    f.divisor = d;
    while ((uint64_t{1} << f.shift) < d) ++f.shift;
    f.multiplier = static_cast<uint32_t>(
        ((uint64_t{1} << 32) * ((uint64_t{1} << f.shift) - d)) / d + 1);
    return f;
  }
  __host__ __device__ __forceinline__ uint32_t Div(uint32_t n) const {
#if defined(__CUDA_ARCH__)
    const uint32_t high = __umulhi(n, multiplier);
#else
    const uint32_t high = static_cast<uint32_t>((uint64_t{n} * multiplier) >> 32);
#endif
    return (high + n) >> shift;  // high <= n < 2^31: no overflow
  }
};

// ------------------------------------------------------------ tile shapes

// Block tile kM x kN, reduction chunk kK, kThreads threads. The same on every
// architecture, because the host sizes the grids with it.
template <typename T>
struct TileShape {  // half, bfloat16
  static constexpr int kM = 128, kN = 64, kK = 32, kThreads = 256;
};
template <>
struct TileShape<float> {
  static constexpr int kM = 128, kN = 64, kK = 8, kThreads = 256;
};
template <>
struct TileShape<double> {
  static constexpr int kM = 64, kN = 64, kK = 8, kThreads = 256;
};

// Elements of one 16-byte vector.
template <typename T>
constexpr int VectorWidth() {
  return static_cast<int>(16 / sizeof(T));
}

// kN consecutive elements moved as one load or store.
template <typename T, int kN>
struct alignas(sizeof(T) * kN) Pack {
  T v[kN];
};

// A GPU faults on a vector access whose size does not divide its address
// ("misaligned address"); the CPU emulation fails the launch the same way,
// since x86 would read it without complaint.
template <typename T, int kN>
__device__ __forceinline__ void CheckPackAligned(const T* p) {
#if defined(CONV1D_GPU_EMULATION)
  if (reinterpret_cast<uintptr_t>(p) % sizeof(Pack<T, kN>) != 0) {
    conv1d_emu::Fail("misaligned vector load or store");
  }
#else
  (void)p;
#endif
}

template <typename T, int kN>
__device__ __forceinline__ Pack<T, kN> LoadPack(const T* p) {
  CheckPackAligned<T, kN>(p);
  return *reinterpret_cast<const Pack<T, kN>*>(p);
}
template <typename T, int kN>
__device__ __forceinline__ void StorePack(T* p, const Pack<T, kN>& v) {
  CheckPackAligned<T, kN>(p);
  *reinterpret_cast<Pack<T, kN>*>(p) = v;
}

// kN consecutive shared-memory elements converted to the accumulator type,
// read in the widest packs (up to 16 bytes) the alignment allows; callers
// keep offsets multiples of the pack.
template <typename T, int kN, typename A>
__device__ __forceinline__ void LoadRun(const T* p, A* out) {
  constexpr int kPack = kN * sizeof(T) >= 16 ? VectorWidth<T>() : kN;
  static_assert(kN % kPack == 0, "run length");
#pragma unroll
  for (int q = 0; q < kN / kPack; ++q) {
    const Pack<T, kPack> v = LoadPack<T, kPack>(p + q * kPack);
#pragma unroll
    for (int e = 0; e < kPack; ++e) out[q * kPack + e] = Num<T>::ToAcc(v.v[e]);
  }
}

// Which thread moves which groups of kVec elements of a kOuter x kInner
// operand tile, kInner being the axis that is contiguous in global memory:
// consecutive threads take consecutive groups along it, so a warp reads
// whole segments. A group is one 16-byte load when the sizes allow.
template <int kOuter, int kInner, int kVec, int kThreads>
struct TileMap {
  static_assert(kInner % kVec == 0, "group width must divide the tile");
  static constexpr int kGroupsPerLine = kInner / kVec;
  static constexpr int kGroups = kOuter * kGroupsPerLine;
  static constexpr int kPerThread = (kGroups + kThreads - 1) / kThreads;

  static __device__ __forceinline__ unsigned Index(int i) {
    return threadIdx.x + static_cast<unsigned>(i * kThreads);
  }
  static __device__ __forceinline__ bool Active(int i) {
    return kGroups % kThreads == 0 || Index(i) < static_cast<unsigned>(kGroups);
  }
  static __device__ __forceinline__ int Outer(int i) {
    return static_cast<int>(Index(i) / kGroupsPerLine);
  }
  static __device__ __forceinline__ int Inner(int i) {
    return static_cast<int>(Index(i) % kGroupsPerLine * kVec);
  }

  // This thread's groups into a shared-memory tile of leading dimension
  // kLd, in the layout the engine reads: each group as it lies (row Outer,
  // from column Inner), or kTransposed (element e at (Inner + e) * kLd +
  // Outer).
  template <bool kTransposed, int kLd, typename T>
  static __device__ __forceinline__ void StoreGroups(const Pack<T, kVec>* groups, T* tile) {
#pragma unroll
    for (int i = 0; i < kPerThread; ++i) {
      if (!Active(i)) continue;
      const int outer = Outer(i), inner = Inner(i);
      if constexpr (kTransposed) {
#pragma unroll
        for (int e = 0; e < kVec; ++e) tile[(inner + e) * kLd + outer] = groups[i].v[e];
      } else {
        StorePack<T, kVec>(tile + outer * kLd + inner, groups[i]);
      }
    }
  }
};

// ---------------------------------------------------------------- engines
//
// Shared-memory tile layouts. A (kM x kK) is "K-major", element (m, k) at
// k * kLdA + m, or "M-major", (m, k) at m * kLdA + k. B (kK x kN) is K-major,
// (k, n) at k * kLdB + n, or "N-major", (k, n) at n * kLdB + k. The loaders
// write whichever the engine reads; rows are padded by 16 bytes against bank
// conflicts. C (kM x kN, accumulator type) is row-major with kLdC.

// FMA engine: each thread owns TM x TN outputs, its rows split between the
// two halves of the tile so that a warp's shared reads are broadcasts or
// contiguous 16-byte packs. Reads K-major A and B only.
template <typename T, int TM, int TN>
struct SimtEngine {
  using Shape = TileShape<T>;
  using Acc = typename Num<T>::Acc;
  static constexpr int kM = Shape::kM, kN = Shape::kN, kK = Shape::kK;
  static constexpr bool kAKMajor = true, kBKMajor = true;
  static constexpr int kLdA = kM + VectorWidth<T>();
  static constexpr int kLdB = kN + VectorWidth<T>();
  static constexpr int kLdC = kN + VectorWidth<Acc>();
  static_assert((kM / TM) * (kN / TN) == Shape::kThreads, "thread tiling");

  Acc acc[TM][TN];

  static __device__ __forceinline__ int Row(int i) {
    const int tm = static_cast<int>(threadIdx.x) / (kN / TN);
    return (i < TM / 2 ? 0 : kM / 2 - TM / 2) + tm * (TM / 2) + i;
  }
  static __device__ __forceinline__ int Col(int j) {
    return static_cast<int>(threadIdx.x) % (kN / TN) * TN + j;
  }

  __device__ __forceinline__ void Zero() {
#pragma unroll
    for (int i = 0; i < TM; ++i)
#pragma unroll
      for (int j = 0; j < TN; ++j) acc[i][j] = Acc(0);
  }

  __device__ __forceinline__ void Mma(const T* as, const T* bs) {
    const int row0 = Row(0), col0 = Col(0);
#pragma unroll
    for (int k = 0; k < kK; ++k) {
      Acc a[TM], b[TN];
      LoadRun<T, TM / 2>(as + k * kLdA + row0, a);
      LoadRun<T, TM / 2>(as + k * kLdA + row0 + kM / 2, a + TM / 2);
      LoadRun<T, TN>(bs + k * kLdB + col0, b);
#pragma unroll
      for (int i = 0; i < TM; ++i)
#pragma unroll
        for (int j = 0; j < TN; ++j) acc[i][j] = Fma(a[i], b[j], acc[i][j]);
    }
  }

  __device__ __forceinline__ void Store(Acc* cs) const {
#pragma unroll
    for (int i = 0; i < TM; ++i)
#pragma unroll
      for (int j = 0; j < TN; ++j) cs[Row(i) * kLdC + Col(j)] = acc[i][j];
  }
};

// Tensor-core engine: 8 warps in a 4 x 2 grid, each computing a 32 x 32
// sub-tile as 2 x 2 WMMA 16x16x16 fragments with fp32 accumulators. Takes A
// and B in whichever layout keeps the loaders' shared stores contiguous.
template <typename T, bool kAKMajorLayout, bool kBKMajorLayout>
struct WmmaEngine {
  using Shape = TileShape<T>;
  using Acc = float;
  static constexpr int kM = Shape::kM, kN = Shape::kN, kK = Shape::kK;
  static_assert(kM == 128 && kN == 64 && kK % 16 == 0 && Shape::kThreads == 256,
                "warp tiling");
  static constexpr bool kAKMajor = kAKMajorLayout, kBKMajor = kBKMajorLayout;
  // WMMA wants leading dimensions that are multiples of 16 bytes and
  // fragment pointers 32-byte aligned; these paddings keep both.
  static constexpr int kLdA = (kAKMajor ? kM : kK) + 8;
  static constexpr int kLdB = (kBKMajor ? kN : kK) + 8;
  static constexpr int kLdC = kN + 4;
  using ALayout = typename std::conditional<kAKMajor, nvcuda::wmma::col_major,
                                            nvcuda::wmma::row_major>::type;
  using BLayout = typename std::conditional<kBKMajor, nvcuda::wmma::row_major,
                                            nvcuda::wmma::col_major>::type;

  nvcuda::wmma::fragment<nvcuda::wmma::accumulator, 16, 16, 16, float> acc[2][2];

  static __device__ __forceinline__ int WarpRow() {
    return static_cast<int>(threadIdx.x) / 32 / 2 * 32;
  }
  static __device__ __forceinline__ int WarpCol() {
    return static_cast<int>(threadIdx.x) / 32 % 2 * 32;
  }

  __device__ __forceinline__ void Zero() {
#pragma unroll
    for (int i = 0; i < 2; ++i)
#pragma unroll
      for (int j = 0; j < 2; ++j) nvcuda::wmma::fill_fragment(acc[i][j], 0.0f);
  }

  __device__ __forceinline__ void Mma(const T* as, const T* bs) {
    using namespace nvcuda;
    const int wm = WarpRow(), wn = WarpCol();
#pragma unroll
    for (int k = 0; k < kK; k += 16) {
      wmma::fragment<wmma::matrix_a, 16, 16, 16, T, ALayout> a[2];
      wmma::fragment<wmma::matrix_b, 16, 16, 16, T, BLayout> b[2];
#pragma unroll
      for (int i = 0; i < 2; ++i) {
        const int m = wm + 16 * i;
        wmma::load_matrix_sync(a[i], kAKMajor ? as + k * kLdA + m : as + m * kLdA + k, kLdA);
      }
#pragma unroll
      for (int j = 0; j < 2; ++j) {
        const int n = wn + 16 * j;
        wmma::load_matrix_sync(b[j], kBKMajor ? bs + k * kLdB + n : bs + n * kLdB + k, kLdB);
      }
#pragma unroll
      for (int i = 0; i < 2; ++i)
#pragma unroll
        for (int j = 0; j < 2; ++j) wmma::mma_sync(acc[i][j], a[i], b[j], acc[i][j]);
    }
  }

  __device__ __forceinline__ void Store(float* cs) const {
    const int wm = WarpRow(), wn = WarpCol();
#pragma unroll
    for (int i = 0; i < 2; ++i)
#pragma unroll
      for (int j = 0; j < 2; ++j) {
        nvcuda::wmma::store_matrix_sync(cs + (wm + 16 * i) * kLdC + wn + 16 * j,
                                        acc[i][j], kLdC, nvcuda::wmma::mem_row_major);
      }
  }
};

// Tensor cores where the architecture has them for T (this is evaluated per
// compilation target, so one binary carries both paths for bfloat16).
template <typename T>
struct HasTensorCores : std::false_type {};
#if !defined(CONV1D_GPU_FORCE_FMA)
#if !defined(__CUDA_ARCH__) || __CUDA_ARCH__ >= 700
template <>
struct HasTensorCores<__half> : std::true_type {};
#endif
#if !defined(__CUDA_ARCH__) || __CUDA_ARCH__ >= 800
template <>
struct HasTensorCores<__nv_bfloat16> : std::true_type {};
#endif
#endif

// The engine for T, given whether the A and B sources are contiguous along
// the reduction axis (then the tensor-core engine takes them M- / N-major).
template <typename T, bool kAReductionContiguous, bool kBReductionContiguous>
struct EngineFor {
  using type = typename std::conditional<
      HasTensorCores<T>::value,
      WmmaEngine<T, !kAReductionContiguous, !kBReductionContiguous>,
      SimtEngine<T, sizeof(T) == 8 ? 4 : 8, 4>>::type;
};

// ------------------------------------------------------------ shared memory

constexpr int RoundUp128(int bytes) { return (bytes + 127) / 128 * 128; }

// Two stages of A and B tiles, overlapped by the C tile of the epilogue.
template <typename Eng, typename T>
struct SharedTiles {
  static constexpr int kABytes = RoundUp128(
      static_cast<int>(sizeof(T)) * Eng::kLdA * (Eng::kAKMajor ? Eng::kK : Eng::kM));
  static constexpr int kBBytes = RoundUp128(
      static_cast<int>(sizeof(T)) * Eng::kLdB * (Eng::kBKMajor ? Eng::kK : Eng::kN));
  static constexpr int kStageBytes = kABytes + kBBytes;
  static constexpr int kCBytes = RoundUp128(
      static_cast<int>(sizeof(typename Eng::Acc)) * Eng::kLdC * Eng::kM);
  static constexpr int kBytes =
      2 * kStageBytes > kCBytes ? 2 * kStageBytes : kCBytes;

  static __device__ __forceinline__ T* A(unsigned char* smem, int stage) {
    return reinterpret_cast<T*>(smem + stage * kStageBytes);
  }
  static __device__ __forceinline__ T* B(unsigned char* smem, int stage) {
    return reinterpret_cast<T*>(smem + stage * kStageBytes + kABytes);
  }
  static __device__ __forceinline__ typename Eng::Acc* C(unsigned char* smem) {
    return reinterpret_cast<typename Eng::Acc*>(smem);
  }
};

// ---------------------------------------------------------------- main loop

// Accumulates chunks [0, chunks) of `problem` into `engine`. The problem
// provides Prepare(chunk, slot) (per-chunk tables, run two chunks ahead into
// one of two slots; may do nothing), Load(chunk, slot, fragment) (global ->
// registers) and Store(fragment, a_tile, b_tile) (registers -> shared).
// Ends with a barrier, so the caller may reuse the shared tiles.
template <typename T, class Eng, class Problem>
__device__ __forceinline__ void RunMainLoop(Problem& problem, Eng& engine,
                                            unsigned char* smem, int64_t chunks) {
  using Tiles = SharedTiles<Eng, T>;
  engine.Zero();
  if (chunks <= 0) return;  // uniform across the block
  typename Problem::Fragment fragment;
  problem.Prepare(0, 0);
  if (chunks > 1) problem.Prepare(1, 1);
  __syncthreads();
  problem.Load(0, 0, fragment);
  problem.Store(fragment, Tiles::A(smem, 0), Tiles::B(smem, 0));
  __syncthreads();
  for (int64_t c = 0; c < chunks; ++c) {
    const int stage = static_cast<int>(c & 1);
    // Stage 1 - stage and table slot `stage` were last read before the
    // previous barrier, so both may be overwritten now.
    if (c + 1 < chunks) problem.Load(c + 1, 1 - stage, fragment);
    if (c + 2 < chunks) problem.Prepare(c + 2, stage);
    engine.Mma(Tiles::A(smem, stage), Tiles::B(smem, stage));
    if (c + 1 < chunks) {
      problem.Store(fragment, Tiles::A(smem, 1 - stage), Tiles::B(smem, 1 - stage));
    }
    __syncthreads();
  }
}

// Calls f(r, c) for every element of a kM x kN tile, spread over the block so
// that consecutive threads take consecutive c when the destination's channel
// axis is contiguous, else consecutive r: either way the writes coalesce.
template <int kM, int kN, int kThreads, class F>
__device__ __forceinline__ void ForEachTileElement(bool along_columns, F&& f) {
  if (along_columns) {
    for (int e = static_cast<int>(threadIdx.x); e < kM * kN; e += kThreads) f(e / kN, e % kN);
  } else {
    for (int e = static_cast<int>(threadIdx.x); e < kM * kN; e += kThreads) f(e % kM, e / kM);
  }
}

}  // namespace gpu
}  // namespace conv1d

#endif  // TF_CONV1D_OP_CORE_GPU_TILE_GEMM_H_
