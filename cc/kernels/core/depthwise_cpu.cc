// Depthwise passes: each input channel c has its own m filters (output
// channels c * m .. c * m + m - 1), so there is no reduction over channels
// and no GEMM; the work is K multiply-adds per output element and the pass
// is bound by memory, not arithmetic. Every pass therefore runs along the
// channels of NWC rows of the accumulator type, a block of channels held in
// registers across the taps, and touches each tensor once:
//
// Forward: tiles of output rows of one batch item. Output row o is
//   bias + sum over taps k: input[o * stride - pad + k * dilation] * w[k]
// (element-wise in the channels), then the preactivation (if kept) and the
// activation: the packet forms (the sigmoid family, relu, relu6) on the sums
// in registers, the others while the tile is in L2. Outputs far larger than
// the caches are stored past them.
//
// Input gradient: tiles of input rows; each input row i gathers the dz rows
// o = (i + pad - k * dilation) / stride of the taps k for which that is
// whole, dz computed once per tile from dy and the activation operand.
//
// Filter gradient: dw[k] += input[o * stride - pad + k * dilation] * dz[o]
// and db += dz[o], summed over tiles into a fixed number of partial sums
// added in a fixed order (bitwise independent of the thread count).
//
// Input and output rows come through the blocks of cpu_tiles.h (Slab,
// DzRows, StoreRows, ActivateRows), so NCW and half/bfloat16 tensors are
// converted a tile at a time and NWC float/double ones are used in place;
// the forward also reads and writes NWC half/bfloat16 ones in place, widened
// and rounded in its registers.
#include <algorithm>
#include <cstdint>
#include <cstring>
#include <type_traits>
#include <utility>
#include <vector>

#if defined(__SSE2__)
#include <immintrin.h>
#endif

#include "cc/kernels/core/cpu_level.h"
#include "cc/kernels/core/cpu_tiles.h"
#include "cc/kernels/core/depthwise_cpu.h"
#include "cc/kernels/core/dtypes.h"
#include "cc/kernels/core/filter_grad_parts.h"
#include "cc/kernels/core/gemm_kernel.h"
#include "cc/kernels/core/output_pages.h"
#include "cc/kernels/core/tile_prefetch.h"

namespace conv1d {
inline namespace TF_CONV1D_LEVEL_NAMESPACE {
using namespace cpu_tiles;  // NOLINT: the passes' own building blocks

namespace {

// A block of channels held in registers across the taps: four 64-byte
// vectors (GCC's generic vectors: one register each with AVX-512, two with
// AVX2, four with SSE). Written out because the auto-vectorizer, left to
// itself, kept the sums in memory and ran the taps' loop scalar.
// (A typedef per type: GCC drops the attribute from an alias template.)
template <typename A>
struct VectorOf;
template <>
struct VectorOf<float> {
  typedef float type __attribute__((vector_size(64)));
};
template <>
struct VectorOf<double> {
  typedef double type __attribute__((vector_size(64)));
};
template <typename A>
using Vector = typename VectorOf<A>::type;
static_assert(sizeof(Vector<float>) == 64 && sizeof(Vector<double>) == 64, "64-byte vectors");
constexpr int kVectors = 4;
template <typename A>
constexpr int64_t kLanes = 64 / sizeof(A);
template <typename A>
constexpr int64_t kBlock = kVectors * kLanes<A>;

template <typename A>
inline Vector<A> Load(const A* p) {
  Vector<A> v;
  std::memcpy(&v, p, sizeof(v));
  return v;
}

// Vectors of the level's own width (lane vectors), for the forward's
// register groups and for stores past the caches.
constexpr int kLaneBytes = gemm::kVectorBytes;  // the level's SIMD width, chosen once there
template <typename A>
struct LaneVectorOf;
template <>
struct LaneVectorOf<float> {
  typedef float type __attribute__((vector_size(kLaneBytes)));
};
template <>
struct LaneVectorOf<double> {
  typedef double type __attribute__((vector_size(kLaneBytes)));
};
template <typename A>
using LaneVector = typename LaneVectorOf<A>::type;
template <typename A>
constexpr int64_t kLaneCount = kLaneBytes / sizeof(A);

// The bytes a pass reads and writes (its input and its output) from which the
// forward and the input gradient stream their stores past the caches: far
// beyond any core's own caches and a fair share of a shared one, so that the
// output's first lines are gone from the caches before the pass ends anyway.
// Measured on two cores (docs/performance.md): the float Mamba forward (a
// pass of 192 MiB) 1.6x faster streamed, Conformer's (16 MiB) 15% slower (the
// next pass reads its output from memory instead of the cache).
constexpr int64_t kStreamedPassBytes = int64_t{64} << 20;

// Whether the stores to `data`, in rows of `row` elements, of a pass that
// moves `pass_bytes` go past the caches: that many bytes, and every row's
// lane vectors (as T) aligned for the streamed stores.
template <typename T>
bool StreamsPastCaches(const T* data, int64_t row, int64_t pass_bytes) {
  constexpr int64_t kStoreBytes = kLaneCount<typename AccumulatorOf<T>::type> * sizeof(T);
  return pass_bytes >= kStreamedPassBytes &&
         reinterpret_cast<uintptr_t>(data) % kStoreBytes == 0 &&
         row * static_cast<int64_t>(sizeof(T)) % kStoreBytes == 0;
}

template <typename A>
inline LaneVector<A> LoadLanes(const A* p) {
  LaneVector<A> v;
  std::memcpy(&v, p, sizeof(v));
  return v;
}

// Stores one lane vector at p; with kStream, past the caches (p aligned to
// the vector), so that an output far larger than them costs its writes only,
// not a read of each line before it is written (Mamba's forward on one
// thread: 1.5x). Streamed stores need StreamFence before another thread may
// read them.
template <bool kStream, typename A>
inline void StoreLanes(A* p, const LaneVector<A>& v) {
  if constexpr (kStream) {
    constexpr bool kFloat = std::is_same_v<A, float>;
#if defined(__AVX512F__)
    if constexpr (kLaneBytes == 64) {
      if constexpr (kFloat) return _mm512_stream_ps(p, reinterpret_cast<const __m512&>(v));
      else return _mm512_stream_pd(p, reinterpret_cast<const __m512d&>(v));
    }
#endif
#if defined(__AVX__)
    if constexpr (kLaneBytes == 32) {
      if constexpr (kFloat) return _mm256_stream_ps(p, reinterpret_cast<const __m256&>(v));
      else return _mm256_stream_pd(p, reinterpret_cast<const __m256d&>(v));
    }
#endif
#if defined(__SSE2__)
    if constexpr (kLaneBytes == 16) {
      if constexpr (kFloat) return _mm_stream_ps(p, reinterpret_cast<const __m128&>(v));
      else return _mm_stream_pd(p, reinterpret_cast<const __m128d&>(v));
    }
#endif
  }
  std::memcpy(p, &v, sizeof(v));
}

inline void StreamFence() {
#if defined(__SSE2__)
  _mm_sfence();
#endif
}

// One lane vector of A from p, where p holds A or, for float, half or
// bfloat16 widened in registers (exact), so that a tile reads those tensors
// in place instead of through a float copy.
template <typename A, typename X>
inline LaneVector<A> LoadLanesOf(const X* p) {
  if constexpr (std::is_same_v<X, A>) {
    return LoadLanes(p);
  } else {
    static_assert(std::is_same_v<A, float> && kConversionBytes == kLaneBytes, "one register");
    return LoadWidened(p);
  }
}

// Stores one lane vector at p, as A (StoreLanes) or rounded to half or
// bfloat16 as every pass rounds (NarrowedBits); with kStream past the caches
// (p aligned to the stored bytes) where the level has the instruction for
// their width (not the baseline's 8 bytes: stored through the caches there).
template <bool kStream, typename A, typename Y>
inline void StoreLanesOf(Y* p, const LaneVector<A>& v) {
  if constexpr (std::is_same_v<Y, A>) {
    StoreLanes<kStream>(p, v);
  } else {
    static_assert(std::is_same_v<A, float> && kConversionBytes == kLaneBytes, "one register");
    const ConversionHalfWords bits = NarrowedBits<Y>(v);
    if constexpr (kStream) {
#if defined(__AVX__)
      if constexpr (sizeof(bits) == 32) {
        return _mm256_stream_si256(reinterpret_cast<__m256i*>(p), SameBits<__m256i>(bits));
      }
#endif
#if defined(__SSE2__)
      if constexpr (sizeof(bits) == 16) {
        return _mm_stream_si128(reinterpret_cast<__m128i*>(p), SameBits<__m128i>(bits));
      }
#endif
    }
    std::memcpy(static_cast<void*>(p), &bits, sizeof(bits));
  }
}

// Y where a parameter must not take part in deducing it (a null pre).
template <typename Y>
struct NotDeduced {
  using type = Y;
};

// out[c] = bias[c] + sum over taps t: x[t][c] * w[t][c], for the kBlock
// channels from c0; stored past the caches with kStream (out + c0 aligned to
// a lane vector).
template <typename A, bool kStream>
inline void SumTapsBlock(const A* const* x, const A* const* w, int64_t taps, const A* bias,
                         int64_t c0, A* out) {
  Vector<A> acc[kVectors];
  for (int i = 0; i < kVectors; ++i) {
    acc[i] = bias != nullptr ? Load(bias + c0 + i * kLanes<A>) : Vector<A>{};
  }
  for (int64_t t = 0; t < taps; ++t) {
    const A* xt = x[t] + c0;
    const A* wt = w[t] + c0;
    for (int i = 0; i < kVectors; ++i) {
      acc[i] += Load(xt + i * kLanes<A>) * Load(wt + i * kLanes<A>);
    }
  }
  if constexpr (kStream) {
    const A* sums = reinterpret_cast<const A*>(acc);
    for (int64_t l = 0; l < kBlock<A>; l += kLaneCount<A>) {
      StoreLanes<true>(out + c0 + l, LoadLanes(sums + l));
    }
  } else {
    std::memcpy(out + c0, acc, sizeof(acc));
  }
}

// The same for the last `width` (< kBlock) channels, one at a time.
template <typename A>
inline void SumTapsTail(const A* const* x, const A* const* w, int64_t taps, const A* bias,
                        int64_t c0, int64_t width, A* out) {
  for (int64_t c = c0; c < c0 + width; ++c) {
    A sum = bias != nullptr ? bias[c] : A(0);
    for (int64_t t = 0; t < taps; ++t) sum += x[t][c] * w[t][c];
    out[c] = sum;
  }
}

// One output (or input-gradient) row of `channels` channels, multiplier 1:
// only the taps whose x is not null. With kStream, whole blocks are stored
// past the caches (out aligned to a lane vector).
template <typename A, bool kStream = false>
void DepthwiseRow(const std::vector<const A*>& x_all, const std::vector<const A*>& w_all,
                  const A* bias, int64_t channels, std::vector<const A*>* x_live,
                  std::vector<const A*>* w_live, A* out) {
  x_live->clear();
  w_live->clear();
  for (size_t t = 0; t < x_all.size(); ++t) {
    if (x_all[t] == nullptr) continue;
    x_live->push_back(x_all[t]);
    w_live->push_back(w_all[t]);
  }
  const A* const* x = x_live->data();
  const A* const* w = w_live->data();
  const int64_t taps = static_cast<int64_t>(x_live->size());
  int64_t c0 = 0;
  for (; c0 + kBlock<A> <= channels; c0 += kBlock<A>) {
    SumTapsBlock<A, kStream>(x, w, taps, bias, c0, out);
  }
  if (c0 < channels) SumTapsTail<A>(x, w, taps, bias, c0, channels - c0, out);
}

// The input steps one tile reads, as NWC rows of A: a slab of the steps
// [first, first + count) that lie inside the input (in place or copied);
// or, where the windows are sparse in that span (dilation far larger than
// the tile), each row copied as it is asked for, into its tap's own buffer.
template <typename T, typename A>
class InputRows {
 public:
  InputRows(const Conv1DGeometry& g, int64_t taps) : g_(g), taps_(taps) {}

  void Load(const T* item, int64_t first, int64_t count, int64_t rows_read) {
    item_ = item;
    lo_ = std::max<int64_t>(first, 0);
    hi_ = std::min<int64_t>(first + count, g_.in_steps);
    per_row_ = hi_ - lo_ > 2 * rows_read + 64;
    if (per_row_) {
      row_scratch_.resize(taps_);
    } else if (hi_ > lo_) {
      slab_ = Slab<T, A>(g_, item, g_.in_steps, g_.in_channels, lo_, hi_ - lo_, &scratch_);
    }
  }

  // Input step i for tap `tap`, null outside the input.
  const A* Row(int64_t i, int64_t tap) {
    if (i < lo_ || i >= hi_) return nullptr;
    if (!per_row_) return slab_ + (i - lo_) * g_.in_channels;
    return Slab<T, A>(g_, item_, g_.in_steps, g_.in_channels, i, 1, &row_scratch_[tap]);
  }

 private:
  const Conv1DGeometry& g_;
  const int64_t taps_;
  const T* item_ = nullptr;
  int64_t lo_ = 0, hi_ = 0;
  bool per_row_ = false;
  const A* slab_ = nullptr;
  std::vector<A> scratch_;
  std::vector<std::vector<A>> row_scratch_;
};

// The forward of multiplier 1, where a filter vector serves one input
// vector: a group of kGroupRows output rows of one vector of channels kept
// in registers across the taps, so each multiply-add loads one input vector
// (the tap's filter vector is loaded once per group). Lane vectors: the
// group's accumulators, the filter and the input vector must fit the
// register file (16 with AVX2, 32 with AVX-512).
constexpr int kGroupRows = 8;
// The sliding form (SumTapsSliding) of long filters, where the compiler
// keeps the group's filter vectors in registers: 12 rows with AVX-512's 32
// vector registers (12 accumulators, 12 filter vectors, the input vector).
// Each accumulator takes one multiply-add per input row; 8 chains are just
// what the FMA's latency needs at the peak, so any stall showed (Conformer,
// one thread: 1.02 to 1.05x with 12; 16 spill, 0.96x).
constexpr int kSlidingGroupRows = kLaneBytes == 64 ? 12 : kGroupRows;

template <int R>
using Rows = std::integral_constant<int, R>;
template <int B>
using Taps = std::integral_constant<int, B>;

// group(Rows<R>(), r) over rows [0, rows): groups of kWhole rows, then the
// rows left as one group of kWhole ending at the last row where `overlap`
// allows it (rows >= kWhole), else in groups of 4, 2 and 1 (the rows of a
// group interleave their dependency chains; a lone row's form one chain).
template <int kWhole, typename Group>
void InGroupsOfRows(int64_t rows, bool overlap, Group&& group) {
  int64_t r = 0;
  for (; r + kWhole <= rows; r += kWhole) group(Rows<kWhole>(), r);
  if (r == rows) return;
  if (overlap && rows >= kWhole) return group(Rows<kWhole>(), rows - kWhole);
  if constexpr (kWhole > 8) {
    if (rows - r >= 8) {
      group(Rows<8>(), r);
      r += 8;
    }
  }
  if (rows - r >= 4) {
    group(Rows<4>(), r);
    r += 4;
  }
  if (rows - r >= 2) {
    group(Rows<2>(), r);
    r += 2;
  }
  if (rows - r == 1) group(Rows<1>(), r);
}


// Activation K (kLinear, or one with a packet form: activation_arrays.h) on
// one lane vector of floats, a whole number of Eigen packets.
template <Activation K, typename A>
inline LaneVector<A> ActivateLanes(LaneVector<A> v) {
  if constexpr (K == Activation::kLinear) {
    return v;
  } else {
    static_assert(std::is_same_v<A, float>, "the packet forms are of floats");
    using packets::Packet;
    constexpr int kPackets = sizeof(v) / sizeof(Packet);
    static_assert(kPackets * sizeof(Packet) == sizeof(v), "whole packets");
    Packet p[kPackets];
    std::memcpy(p, &v, sizeof(v));
    for (int i = 0; i < kPackets; ++i) p[i] = packets::Activate<K>(p[i]);
    std::memcpy(&v, p, sizeof(v));
    return v;
  }
}

// A group's R sums, kept as the preactivation at pre[r * ld] where pre is
// not null, then activated with K and stored at out[r * ld]. The R rows'
// activations interleave: one alone would wait on each step of its exp and
// division.
template <typename A, int R, Activation K, bool kStream, typename Y>
inline void StoreGroup(LaneVector<A> (&acc)[R], Y* out, Y* pre, int64_t ld) {
  if (pre != nullptr) {
#pragma GCC unroll 16
    for (int r = 0; r < R; ++r) StoreLanesOf<kStream, A>(pre + r * ld, acc[r]);
  }
#pragma GCC unroll 16
  for (int r = 0; r < R; ++r) acc[r] = ActivateLanes<K, A>(acc[r]);
#pragma GCC unroll 16
  for (int r = 0; r < R; ++r) StoreLanesOf<kStream, A>(out + r * ld, acc[r]);
}

// Output rows out[r * ld] (r < R) of one lane vector: K(bias + sum over taps
// k of x[r * row_pitch + k * tap_pitch] * w[k]) (w: the taps' lane vectors,
// packed one after another), through StoreGroup.
template <typename A, int R, Activation K, bool kStream, typename X, typename Y>
inline void SumTapsRows(const X* x, int64_t row_pitch, int64_t tap_pitch, const A* w,
                        int64_t taps, LaneVector<A> bias, Y* out, Y* pre, int64_t ld) {
  LaneVector<A> acc[R];
#pragma GCC unroll 16
  for (int r = 0; r < R; ++r) acc[r] = bias;
  for (int64_t k = 0; k < taps; ++k) {
    const LaneVector<A> wk = LoadLanes(w + k * kLaneCount<A>);
    const X* xk = x + k * tap_pitch;
#pragma GCC unroll 16
    for (int r = 0; r < R; ++r) acc[r] += LoadLanesOf<A>(xk + r * row_pitch) * wk;
  }
  StoreGroup<A, R, K, kStream>(acc, out, pre, ld);
}

// The same sums where row r's tap k reads input row r + k (the tap pitch is
// the row pitch: stride equal to dilation), for taps >= R - 1: each input
// row is loaded once and serves the R rows it lies under (row r at tap
// j - r), the filter vectors coming from L1 instead. With wide windows
// (Conformer's 31 taps) the R * taps input loads of SumTapsRows, a row pitch
// apart, crowd a few L1 sets and come from L2. Each row still sums its taps
// in ascending order, so both give the same bits.
template <typename A, int R, Activation K, bool kStream, typename X, typename Y>
inline void SumTapsSliding(const X* x, int64_t pitch, const A* w, int64_t taps,
                           LaneVector<A> bias, Y* out, Y* pre, int64_t ld) {
  constexpr int64_t kLanes = kLaneCount<A>;
  LaneVector<A> acc[R];
#pragma GCC unroll 16
  for (int r = 0; r < R; ++r) acc[r] = bias;
  // Input rows 0 .. R - 2: under rows 0 .. j only.
#pragma GCC unroll 16
  for (int j = 0; j < R - 1; ++j) {
    const LaneVector<A> xj = LoadLanesOf<A>(x + j * pitch);
#pragma GCC unroll 16
    for (int r = 0; r <= j; ++r) acc[r] += xj * LoadLanes(w + (j - r) * kLanes);
  }
  // Input rows R - 1 .. taps - 1: under every row.
  for (int64_t j = R - 1; j < taps; ++j) {
    const LaneVector<A> xj = LoadLanesOf<A>(x + j * pitch);
#pragma GCC unroll 16
    for (int r = 0; r < R; ++r) acc[r] += xj * LoadLanes(w + (j - r) * kLanes);
  }
  // Input rows taps .. taps + R - 2: under rows t .. R - 1 only.
#pragma GCC unroll 16
  for (int t = 1; t < R; ++t) {
    const LaneVector<A> xj = LoadLanesOf<A>(x + (taps - 1 + t) * pitch);
#pragma GCC unroll 16
    for (int r = t; r < R; ++r) acc[r] += xj * LoadLanes(w + (taps - 1 + t - r) * kLanes);
  }
  StoreGroup<A, R, K, kStream>(acc, out, pre, ld);
}

// The filter [K, C] as SumTapsRows reads it: per whole lane vector of
// channels, its K taps one after another (a tap pitch of C elements would
// put the taps of one vector into a few L1 sets when C is a multiple of 256).
template <typename A>
std::vector<A> LanePackedFilter(const A* filter, int64_t taps, int64_t channels) {
  const int64_t vectors = channels / kLaneCount<A>;
  std::vector<A> packed(vectors * taps * kLaneCount<A>);
  for (int64_t v = 0; v < vectors; ++v) {
    for (int64_t k = 0; k < taps; ++k) {
      for (int64_t l = 0; l < kLaneCount<A>; ++l) {
        packed[(v * taps + k) * kLaneCount<A> + l] =
            filter[k * channels + v * kLaneCount<A> + l];
      }
    }
  }
  return packed;
}

// Windows from which a tile computes long enough to hide the next one's
// fetch: with few taps the pass is bound by memory, the hardware prefetchers
// keep up with it, and prefetching more only competes with them (two
// threads from a cold cache, pass_threads.cc: Mamba's 4 taps 0.85x,
// Conformer's 31 1.1 to 1.4x).
constexpr int64_t kPrefetchMinTaps = 8;
// The hardware prefetchers follow runs of lines within a page of this size.
constexpr int64_t kPrefetchPageBytes = 4096;

// Whether `rows` windows of `taps` taps, spanning `span` rows of their
// input, are dense enough in that span to read (or compute) it whole as a
// slab; else a dilation far larger than the tile would size the slab.
inline bool DenseInSpan(int64_t span, int64_t rows, int64_t taps) {
  return span <= 2 * rows * taps + 64;
}

// Whether a tile's groups of rows go across all the channels (see
// DepthwiseTile) rather than lane vector by lane vector.
template <typename A>
bool AcrossChannels(int64_t taps, int64_t channels) {
  return taps < kPrefetchMinTaps &&
         channels * static_cast<int64_t>(sizeof(A)) >= kPrefetchPageBytes;
}

// One tile of `rows` output rows, multiplier 1, activation K (kLinear: the
// caller applies the activation), streamed past the caches with kStream:
// out[r, c] = K(bias[c] + sum over k of slab[r * row_pitch + k * tap_pitch + c] * w[k, c]),
// and the sum before K at pre[r, c] where pre is not null (pitch ld, as out).
// The slab holds every step the windows touch (zeros in the padding), so no
// tap needs a bounds check. The register groups go lane vector by lane
// vector, so that the input rows of one vector stay in L1 while all of the
// tile's rows pass; except where the pass is bound by memory (few taps) and
// a row spans a page or more: a column of the tile then has each line on a
// page of its own, out of the prefetchers' sight, so a group of rows goes
// across all the channels instead, reading its input rows and writing its
// output rows front to back (Mamba's forward, 1536 channels, two threads
// from a cold cache: 1.2 to 1.5x; 512 channels or dilated: within the noise).
template <typename A, Activation K, bool kStream, typename X, typename Y>
void DepthwiseTile(const X* slab, int64_t row_pitch, int64_t tap_pitch, const A* packed,
                   const A* filter, const A* bias, int64_t rows, int64_t channels,
                   int64_t taps, Y* out, typename NotDeduced<Y>::type* pre, int64_t ld,
                   TilePrefetch* prefetch) {
  constexpr int64_t kLanes = kLaneCount<A>;
  const int64_t vectors = channels / kLanes;
  const auto pre_at = [&](int64_t r, int64_t c) {
    return pre != nullptr ? pre + r * ld + c : nullptr;
  };
  const bool sliding = tap_pitch == row_pitch && taps >= kGroupRows;
  // The R rows from r of lane vector v.
  const auto group = [&](auto size, int64_t r, int64_t v) {
    constexpr int R = decltype(size)::value;
    const int64_t c0 = v * kLanes;
    const LaneVector<A> b = bias != nullptr ? LoadLanes(bias + c0) : LaneVector<A>{};
    const A* w = packed + v * taps * kLanes;
    prefetch->Step();
    if (sliding) {
      SumTapsSliding<A, R, K, kStream>(slab + r * row_pitch + c0, row_pitch, w, taps, b,
                                       out + r * ld + c0, pre_at(r, c0), ld);
    } else {
      SumTapsRows<A, R, K, kStream>(slab + r * row_pitch + c0, row_pitch, tap_pitch, w, taps, b,
                                    out + r * ld + c0, pre_at(r, c0), ld);
    }
  };
  // Every row of the tile for the lane vectors [v0, v1); the last rows may
  // overlap rows already written (each row's sum is the same whichever group
  // computes it).
  const auto rows_of = [&](int64_t v0, int64_t v1) {
    const auto each_vector = [&](auto size, int64_t r) {
      for (int64_t v = v0; v < v1; ++v) group(size, r, v);
    };
    if (sliding && taps >= kSlidingGroupRows) {
      InGroupsOfRows<kSlidingGroupRows>(rows, /*overlap=*/true, each_vector);
    } else {
      InGroupsOfRows<kGroupRows>(rows, /*overlap=*/true, each_vector);
    }
  };
  if (AcrossChannels<A>(taps, channels)) {
    rows_of(0, vectors);
  } else {
    for (int64_t v = 0; v < vectors; ++v) rows_of(v, v + 1);
  }
  // The channels past the last lane vector, a row at a time: the sums, then
  // the activation over them, each rounded once to Y.
  const int64_t tail = channels - vectors * kLanes;
  if (tail == 0) return;
  ActivationSpec tail_act;
  tail_act.kind = K;
  A sums[kLanes];
  for (int64_t r = 0; r < rows; ++r) {
    for (int64_t t = 0; t < tail; ++t) {
      const int64_t c = vectors * kLanes + t;
      A sum = bias != nullptr ? bias[c] : A(0);
      for (int64_t k = 0; k < taps; ++k) {
        sum += static_cast<A>(slab[r * row_pitch + k * tap_pitch + c]) * filter[k * channels + c];
      }
      sums[t] = sum;
    }
    if (pre != nullptr) ConvertValues(sums, tail, pre + r * ld + vectors * kLanes);
    ActivateRows<A>(tail_act, sums, 1, tail, tail);
    ConvertValues(sums, tail, out + r * ld + vectors * kLanes);
  }
}

// dy * K'(operand) of one lane vector (activation_arrays.h), in registers,
// dy and the operand of A or widened to it (LoadLanesOf).
template <Activation K, typename A, typename G>
inline LaneVector<A> DzLanes(const G* dy, const G* operand) {
  LaneVector<A> g = LoadLanesOf<A>(dy);
  if constexpr (K != Activation::kLinear) {
    static_assert(std::is_same_v<A, float>, "the packet forms are of floats");
    using packets::Packet;
    constexpr int kPackets = sizeof(g) / sizeof(Packet);
    static_assert(kPackets * sizeof(Packet) == sizeof(g), "whole packets");
    Packet gp[kPackets], vp[kPackets];
    const LaneVector<A> v = LoadLanesOf<A>(operand);
    std::memcpy(gp, &g, sizeof(g));
    std::memcpy(vp, &v, sizeof(v));
    for (int i = 0; i < kPackets; ++i) gp[i] = packets::ScaleByDerivative<K>(gp[i], vp[i]);
    std::memcpy(&g, gp, sizeof(g));
  }
  return g;
}

// The filter gradient's sums over R rows of one lane vector, added to its
// partial sums: db += dz[r] and dw[k] += x[r * row_pitch + k * tap_pitch] *
// dz[r], each sum taking the rows in order (the same bits as a row at a
// time). dz comes from dy and the operand in registers, once per row; the
// taps go in blocks of up to four, whose accumulation chains interleave.
// x, dy and the operand are of A or widened to it in registers (X, G: half
// or bfloat16 for a float A), so narrow tensors are read in place.
template <typename A, int R, Activation K, typename X, typename G>
inline void FilterGradRows(const X* x, int64_t row_pitch, int64_t tap_pitch, const G* dy,
                           const G* operand, int64_t ld, int64_t taps, A* dw, int64_t dw_pitch,
                           A* db) {
  LaneVector<A> dz[R];
#pragma GCC unroll 16
  for (int r = 0; r < R; ++r) dz[r] = DzLanes<K, A>(dy + r * ld, operand + r * ld);
  LaneVector<A> bias = LoadLanes(db);
#pragma GCC unroll 16
  for (int r = 0; r < R; ++r) bias += dz[r];
  StoreLanes<false>(db, bias);
  const auto block = [&](auto size, int64_t k0) {
    constexpr int B = decltype(size)::value;
    LaneVector<A> acc[B];
#pragma GCC unroll 4
    for (int t = 0; t < B; ++t) acc[t] = LoadLanes(dw + (k0 + t) * dw_pitch);
#pragma GCC unroll 16
    for (int r = 0; r < R; ++r) {
#pragma GCC unroll 4
      for (int t = 0; t < B; ++t) {
        acc[t] += LoadLanesOf<A>(x + r * row_pitch + (k0 + t) * tap_pitch) * dz[r];
      }
    }
#pragma GCC unroll 4
    for (int t = 0; t < B; ++t) StoreLanes<false>(dw + (k0 + t) * dw_pitch, acc[t]);
  };
  int64_t k = 0;
  for (; k + 4 <= taps; k += 4) block(Taps<4>(), k);
  if (taps - k == 3) block(Taps<3>(), k);
  if (taps - k == 2) block(Taps<2>(), k);
  if (taps - k == 1) block(Taps<1>(), k);
}

// One tile's contribution to the filter gradient of multiplier 1: rows of dy
// and the operand (pitch `channels`) from the tile's first output row (with K
// linear, dy is dz and the operand unused; otherwise the channels must be a
// whole number of lane vectors), the windows in `slab` as DepthwiseTile reads
// them, dw [taps, channels] and db [channels]. Groups of rows go across the
// channels or lane vector by lane vector, where the forward's do
// (DepthwiseTile: the same reasons). The slab, dy and the operand may be
// half or bfloat16 (X, G) for a float A, widened as they are loaded.
template <typename A, Activation K, typename X, typename G>
void FilterGradTile(const X* slab, int64_t row_pitch, int64_t tap_pitch, const G* dy,
                    const G* operand, int64_t rows, int64_t channels, int64_t taps, A* dw,
                    A* db) {
  constexpr int64_t kLanes = kLaneCount<A>;
  const int64_t vectors = channels / kLanes;
  const auto group = [&](auto size, int64_t r, int64_t v) {
    constexpr int R = decltype(size)::value;
    const int64_t c0 = v * kLanes;
    FilterGradRows<A, R, K>(slab + r * row_pitch + c0, row_pitch, tap_pitch,
                            dy + r * channels + c0, operand + r * channels + c0, channels, taps,
                            dw + c0, channels, db + c0);
  };
  // Each row once (the sums accumulate), in groups of `whole` rows.
  const auto rows_of = [&](auto whole, int64_t v0, int64_t v1) {
    InGroupsOfRows<decltype(whole)::value>(rows, /*overlap=*/false, [&](auto size, int64_t r) {
      for (int64_t v = v0; v < v1; ++v) group(size, r, v);
    });
  };
  // Across the channels, 4 rows at a time read fewer pages at once than the
  // forward's 8 (Mamba's, one thread: 1.11x; 2 rows: 0.92x of 4).
  if (AcrossChannels<A>(taps, channels)) {
    rows_of(Rows<4>(), 0, vectors);
  } else {
    for (int64_t v = 0; v < vectors; ++v) rows_of(Rows<kGroupRows>(), v, v + 1);
  }
  if constexpr (K == Activation::kLinear) {
    for (int64_t c = vectors * kLanes; c < channels; ++c) {
      for (int64_t r = 0; r < rows; ++r) {
        const A dz = static_cast<A>(dy[r * channels + c]);
        db[c] += dz;
        for (int64_t k = 0; k < taps; ++k) {
          dw[k * channels + c] += static_cast<A>(slab[r * row_pitch + k * tap_pitch + c]) * dz;
        }
      }
    }
  }
}

template <typename T, typename A>
std::vector<A> FilterAs(const T* filter, int64_t elements) {
  std::vector<A> out(elements);
  for (int64_t e = 0; e < elements; ++e) out[e] = static_cast<A>(filter[e]);
  return out;
}

}  // namespace

template <typename T>
void DepthwiseForwardPass(const Conv1DGeometry& g, const ActivationSpec& act, const T* input,
                          const T* filter, const T* bias, T* output, T* preactivation,
                          const ParallelRunner& runner) {
  using A = typename AccumulatorOf<T>::type;
  if (g.output_elements() == 0) return;
  const int64_t cin = g.in_channels, cout = g.out_channels, m = cout / cin;
  const int64_t kernel = g.kernel_size, s = g.stride, d = g.dilation, pad = g.pad_left;
  const int64_t in_item = g.in_steps * cin, out_item = g.out_steps * cout;
  PreferHugePages(output, g.output_elements() * sizeof(T));
  PreferHugePages(preactivation, preactivation ? g.output_elements() * sizeof(T) : 0);
  const std::vector<A> w = FilterAs<T, A>(filter, kernel * cout);  // [K, 1, Cout]
  std::vector<A> bias_a;
  if (bias != nullptr) bias_a = FilterAs<T, A>(bias, cout);
  const A* b = bias != nullptr ? bias_a.data() : nullptr;
  const int64_t tile =
      TileRows<A>((s * cin + cout) * sizeof(A), g.out_steps, g.batch, 256, kMinUnits, kGroupRows);
  const int64_t tiles_per_item = CeilDiv(g.out_steps, tile);
  const bool in_place = std::is_same_v<T, A> && g.layout == Layout::kNWC;
  // Half and bfloat16 NWC tensors read in place and stored from the tile's
  // registers (widened and rounded there) where the tile is final once
  // stored: a linear activation or one in registers. Otherwise the tile
  // goes through a float copy of its input and a float tile.
  const bool narrow_in_place =
      kNarrow<T> && g.layout == Layout::kNWC &&
      (packets::HasPacketForm(act.kind) || act.kind == Activation::kLinear);
  const std::vector<A> packed = m == 1 ? LanePackedFilter<A>(w.data(), kernel, cout)
                                       : std::vector<A>();
  // The packet forms (float) in the tile's registers, the preactivation
  // (if kept) stored from them too where it is written from there; the
  // others over the finished tile.
  const bool activate_in_tile = std::is_same_v<A, float> && packets::HasPacketForm(act.kind) &&
                                (preactivation == nullptr || in_place || narrow_in_place);
  // Stores past the caches (StoreLanesOf) where the pass moves far more than
  // they hold and the tile is final once stored (written in place, activated).
  // Not half and bfloat16 ones with a preactivation: each group of rows then
  // leaves twice as many lines half written (16 at a time), more than the
  // core probably combines, and the Mamba training step took 1.15x as long.
  const int64_t pass_bytes = (g.input_elements() + g.output_elements()) * sizeof(T);
  const bool stream = ((in_place && (activate_in_tile || act.kind == Activation::kLinear)) ||
                       (narrow_in_place && preactivation == nullptr)) &&
                      StreamsPastCaches(output, cout, pass_bytes) &&
                      (preactivation == nullptr ||
                       StreamsPastCaches(preactivation, cout, pass_bytes));

  runner.For(g.batch * tiles_per_item, 2 * tile * kernel * cout + 1,
             [&](int64_t begin, int64_t end) {
    InputRows<T, A> rows_in(g, kernel);
    std::vector<A> acc, slab_scratch;
    std::vector<const A*> x(kernel), w_rows(kernel), x_live, w_live;
    for (int64_t k = 0; k < kernel; ++k) w_rows[k] = w.data() + k * cout;
    for (int64_t unit = begin; unit < end; ++unit) {
      const int64_t n = unit / tiles_per_item;
      const int64_t o0 = (unit % tiles_per_item) * tile;
      const int64_t rows = std::min(tile, g.out_steps - o0);
      A* c = nullptr;
      A* z = nullptr;  // the preactivation, where the tile stores it itself
      if constexpr (std::is_same_v<T, A>) {
        c = in_place ? output + n * out_item + o0 * cout : nullptr;
        if (in_place && activate_in_tile && preactivation != nullptr) {
          z = preactivation + n * out_item + o0 * cout;
        }
      }
      const int64_t span = (rows - 1) * s + g.kernel_extent;
      const bool dense = m == 1 && DenseInSpan(span, rows, kernel);
      if (!in_place && !(dense && narrow_in_place)) {
        acc.resize(rows * cout);
        c = acc.data();
      }
      if (dense) {
        // Windows dense in their span: each run of rows reads its span as
        // one slab. The rows whose windows lie inside the input (all but a
        // few at the ends of an item) read it in place where it is NWC of
        // A; only the runs reaching into the padding copy theirs.
        const int64_t inside_lo =
            std::clamp<int64_t>(CeilDivSigned(pad - o0 * s, s), 0, rows);
        const int64_t inside_hi = std::clamp<int64_t>(
            FloorDiv(g.in_steps + pad - g.kernel_extent, s) - o0 + 1, inside_lo, rows);
        // The next unit's tile, fetched while the run inside the input computes.
        TilePrefetch next_tile;
        if (unit + 1 < end && kernel >= kPrefetchMinTaps) {
          const int64_t groups = cin / kLaneCount<A> * CeilDiv(inside_hi - inside_lo, kGroupRows);
          next_tile = PrefetchOfTile(g, input, in_place && !stream ? output : nullptr, unit + 1,
                                     tile, groups);
        }
        for (const auto& [r0, r1] : {std::pair<int64_t, int64_t>{0, inside_lo},
                                     {inside_lo, inside_hi}, {inside_hi, rows}}) {
          if (r1 == r0) continue;
          const int64_t first = (o0 + r0) * s - pad;
          const bool read_in_place = narrow_in_place && r0 == inside_lo && r1 == inside_hi;
          const A* slab = read_in_place
                              ? nullptr
                              : Slab<T, A>(g, input + n * in_item, g.in_steps, cin, first,
                                           (r1 - r0 - 1) * s + g.kernel_extent, &slab_scratch);
          TilePrefetch none;
          TilePrefetch* prefetch = r0 == inside_lo ? &next_tile : &none;
          packets::WithPacketForm(activate_in_tile ? act.kind : Activation::kLinear,
                                  [&](auto kind) {
            constexpr Activation K =
                std::is_same_v<A, float> ? decltype(kind)::value : Activation::kLinear;
            if constexpr (kNarrow<T>) {
              if (narrow_in_place) {
                T* out = output + n * out_item + (o0 + r0) * cout;
                T* pre = preactivation ? preactivation + n * out_item + (o0 + r0) * cout : nullptr;
                const auto tile_from = [&](const auto* x, auto streamed) {
                  DepthwiseTile<A, K, decltype(streamed)::value>(
                      x, s * cin, d * cin, packed.data(), w.data(), b, r1 - r0, cin, kernel,
                      out, pre, cout, prefetch);
                };
                const auto tile_streamed_or_not = [&](const auto* x) {
                  stream ? tile_from(x, std::true_type()) : tile_from(x, std::false_type());
                };
                read_in_place ? tile_streamed_or_not(input + n * in_item + first * cin)
                              : tile_streamed_or_not(slab);
                return;
              }
            }
            const auto tile_of = [&](auto streamed) {
              DepthwiseTile<A, K, decltype(streamed)::value>(slab, s * cin, d * cin, packed.data(),
                                                             w.data(), b, r1 - r0, cin, kernel,
                                                             c + r0 * cout,
                                                             z ? z + r0 * cout : nullptr, cout,
                                                             prefetch);
            };
            stream ? tile_of(std::true_type()) : tile_of(std::false_type());
          });
        }
        if (narrow_in_place) continue;  // stored from the registers
        FinishForwardTile<T, A>(g, act, c, n, o0, rows, activate_in_tile, in_place, output,
                                preactivation);
        continue;
      }
      rows_in.Load(input + n * in_item, o0 * s - pad, span, rows * kernel);
      for (int64_t r = 0; r < rows; ++r) {
        A* row = c + r * cout;
        const int64_t first = (o0 + r) * s - pad;
        for (int64_t k = 0; k < kernel; ++k) x[k] = rows_in.Row(first + k * d, k);
        if (m == 1) {
          DepthwiseRow<A>(x, w_rows, b, cout, &x_live, &w_live, row);
        } else {
          for (int64_t f = 0; f < cout; ++f) row[f] = b != nullptr ? b[f] : A(0);
          for (int64_t k = 0; k < kernel; ++k) {
            if (x[k] == nullptr) continue;
            const A* wk = w_rows[k];
            for (int64_t ci = 0; ci < cin; ++ci) {
              const A v = x[k][ci];
              for (int64_t j = 0; j < m; ++j) row[ci * m + j] += v * wk[ci * m + j];
            }
          }
        }
        // The preactivation and the activation while the row is in L1.
        FinishForwardTile<T, A>(g, act, row, n, o0 + r, 1, false, in_place, output,
                                preactivation);
      }
    }
    if (stream) StreamFence();
  });
}

template <typename T>
void DepthwiseBackpropInputPass(const Conv1DGeometry& g, const ActivationSpec& act,
                                const T* filter, const T* grad_output, const T* operand,
                                T* grad_input, const ParallelRunner& runner) {
  using A = typename AccumulatorOf<T>::type;
  if (g.input_elements() == 0) return;
  const int64_t cin = g.in_channels, cout = g.out_channels, m = cout / cin;
  const int64_t kernel = g.kernel_size, s = g.stride, d = g.dilation, pad = g.pad_left;
  const int64_t in_item = g.in_steps * cin, out_item = g.out_steps * cout;
  PreferHugePages(grad_input, g.input_elements() * sizeof(T));
  const std::vector<A> w = FilterAs<T, A>(filter, kernel * cout);
  // Per input row about 1 / s dz rows. With stride 1 and multiplier 1 the
  // rows may go to the forward's register tile (below), whose groups of rows
  // the tile's rows should fill.
  const bool forward_shaped = s == 1 && m == 1;
  const int64_t tile = TileRows<A>(CeilDiv(cout * sizeof(A), s) + cin * sizeof(A), g.in_steps,
                                   g.batch, 256, kMinUnits,
                                   forward_shaped ? kGroupRows : gemm::Tile<A>::kMr);
  const int64_t tiles_per_item = CeilDiv(g.in_steps, tile);
  const bool in_place = std::is_same_v<T, A> && g.layout == Layout::kNWC;
  const bool dz_is_dy = act.kind == Activation::kLinear && in_place;
  // Rows written once, in place, stored past the caches where the pass moves
  // far more than they hold (as the forward's outputs; Mamba's input
  // gradient, one thread: 1.2 to 1.3x).
  const int64_t pass_bytes = (g.input_elements() + g.output_elements()) * sizeof(T);
  const bool stream_in_place =
      in_place && m == 1 && StreamsPastCaches(grad_input, cin, pass_bytes);
  // With stride 1 and multiplier 1, input row i is the forward's sum over a
  // slab of dz rows with the taps reversed (row i + pad - (K - 1 - j) d at
  // tap j): the forward's register tile (DepthwiseTile) on the tile's dz
  // rows, where those are dense enough to compute as one slab (a tile's
  // windows span its rows and the reach of its taps).
  const int64_t reach = (kernel - 1) * d;
  const bool as_forward = forward_shaped && DenseInSpan(tile + reach, tile, kernel);
  // Half and bfloat16 NWC gradients stored from that tile's registers,
  // rounded there (as the forward's outputs), instead of through a float tile.
  const bool narrow_out = kNarrow<T> && g.layout == Layout::kNWC && as_forward;
  const bool stream =
      stream_in_place || (narrow_out && StreamsPastCaches(grad_input, cin, pass_bytes));
  std::vector<A> flipped, flipped_packed;
  if (as_forward) {
    flipped.resize(w.size());
    for (int64_t k = 0; k < kernel; ++k) {
      std::copy_n(w.data() + k * cout, cout, flipped.data() + (kernel - 1 - k) * cout);
    }
    flipped_packed = LanePackedFilter<A>(flipped.data(), kernel, cout);
  }

  runner.For(g.batch * tiles_per_item, 2 * tile * kernel * cout / s + 1,
             [&](int64_t begin, int64_t end) {
    std::vector<A> dz_scratch, acc;
    std::vector<const A*> x, w_rows, x_live, w_live;
    for (int64_t unit = begin; unit < end; ++unit) {
      const int64_t n = unit / tiles_per_item;
      const int64_t i0 = (unit % tiles_per_item) * tile;
      const int64_t rows = std::min(tile, g.in_steps - i0);
      A* c;
      if constexpr (std::is_same_v<T, A>) {
        c = in_place ? grad_input + n * in_item + i0 * cin : nullptr;
      }
      if (!in_place && !narrow_out) {
        acc.resize(rows * cin);
        c = acc.data();
      }
      if (as_forward) {
        const A* dz_slab = DzRows<T, A>(g, act, dz_is_dy, grad_output + n * out_item,
                                        operand + n * out_item, i0 + pad - reach, rows + reach,
                                        cout, &dz_scratch);
        TilePrefetch none;
        if constexpr (kNarrow<T>) {
          if (narrow_out) {
            const auto tile_of = [&](auto streamed) {
              DepthwiseTile<A, Activation::kLinear, decltype(streamed)::value>(
                  dz_slab, cin, d * cin, flipped_packed.data(), flipped.data(), nullptr, rows,
                  cin, kernel, grad_input + n * in_item + i0 * cin, nullptr, cin, &none);
            };
            stream ? tile_of(std::true_type()) : tile_of(std::false_type());
            continue;
          }
        }
        const auto tile_of = [&](auto streamed) {
          DepthwiseTile<A, Activation::kLinear, decltype(streamed)::value>(
              dz_slab, cin, d * cin, flipped_packed.data(), flipped.data(), nullptr, rows, cin,
              kernel, c, nullptr, cin, &none);
        };
        stream ? tile_of(std::true_type()) : tile_of(std::false_type());
        if (!in_place) {
          StoreRows<T, A>(c, cin, rows, cin, g.in_steps, g.layout, i0, 1,
                          grad_input + n * in_item);
        }
        continue;
      }
      // dz rows reaching input rows [i0, i0 + rows).
      const int64_t o_lo =
          std::max<int64_t>(0, CeilDivSigned(i0 + pad - reach, s));
      const int64_t o_hi = std::min<int64_t>(g.out_steps, FloorDiv(i0 + rows - 1 + pad, s) + 1);
      const A* dz = nullptr;
      if (o_hi > o_lo) {
        dz = DzRows<T, A>(g, act, dz_is_dy, grad_output + n * out_item,
                          operand + n * out_item, o_lo, o_hi - o_lo, cout, &dz_scratch);
      }
      for (int64_t r = 0; r < rows; ++r) {
        A* row = c + r * cin;
        // Taps k with p = i + pad - k d = o s for an output row o in range:
        // p falls as k grows, so the scan stops below o_lo.
        x.clear();
        w_rows.clear();
        const int64_t p_top = i0 + r + pad;
        for (int64_t k = 0; k < kernel && dz != nullptr; ++k) {
          const int64_t p = p_top - k * d;
          if (p < o_lo * s) break;
          if (p % s != 0 || p / s >= o_hi) continue;
          x.push_back(dz + (p / s - o_lo) * cout);
          w_rows.push_back(w.data() + k * cout);
        }
        if (m == 1) {
          if (stream) {
            DepthwiseRow<A, true>(x, w_rows, nullptr, cin, &x_live, &w_live, row);
          } else {
            DepthwiseRow<A>(x, w_rows, nullptr, cin, &x_live, &w_live, row);
          }
        } else {
          std::fill(row, row + cin, A(0));
          for (size_t t = 0; t < x.size(); ++t) {
            for (int64_t ci = 0; ci < cin; ++ci) {
              A sum = A(0);
              for (int64_t j = 0; j < m; ++j) sum += x[t][ci * m + j] * w_rows[t][ci * m + j];
              row[ci] += sum;
            }
          }
        }
      }
      if (!in_place) {
        StoreRows<T, A>(c, cin, rows, cin, g.in_steps, g.layout, i0, 1,
                        grad_input + n * in_item);
      }
    }
    if (stream) StreamFence();
  });
}

template <typename T>
void DepthwiseBackpropFilterPass(const Conv1DGeometry& g, const ActivationSpec& act,
                                 const T* input, const T* grad_output, const T* operand,
                                 T* grad_filter, T* grad_bias, const ParallelRunner& runner) {
  using A = typename AccumulatorOf<T>::type;
  const int64_t cin = g.in_channels, cout = g.out_channels, m = cout / cin;
  const int64_t kernel = g.kernel_size, s = g.stride, d = g.dilation, pad = g.pad_left;
  const int64_t in_item = g.in_steps * cin, out_item = g.out_steps * cout;
  const int64_t tile = TileRows<A>((s * cin + cout) * sizeof(A),
                                   std::max<int64_t>(g.out_steps, 1), g.batch, 256,
                                   kMinUnits / 2);
  const int64_t tiles_per_item = CeilDiv(g.out_steps, tile);
  const int64_t units = g.batch * tiles_per_item;
  // Sums [K, Cout] + bias [Cout] per part.
  FilterGradParts<A> parts(kernel, cout, units);
  const bool in_place = std::is_same_v<T, A> && g.layout == Layout::kNWC;
  const bool dz_is_dy = act.kind == Activation::kLinear && in_place;
  // Multiplier 1 sums in registers (FilterGradTile) where the windows are
  // dense in their span, with dz computed there too where dy and the operand
  // are NWC (half and bfloat16 widened in the registers) and dz is dy or has
  // a packet form over whole lane vectors; else from a tile of dz. Other
  // multipliers a row at a time.
  const bool dz_in_registers =
      g.layout == Layout::kNWC &&
      (act.kind == Activation::kLinear ||
       (std::is_same_v<A, float> && packets::HasPacketForm(act.kind) &&
        cout % kLaneCount<A> == 0));

  runner.For(parts.parts(), 2 * CeilDiv(units, parts.parts()) * tile * kernel * cout + 1,
             [&](int64_t begin, int64_t end) {
    InputRows<T, A> rows_in(g, kernel);
    std::vector<A> dz_scratch, slab_scratch;
    for (int64_t part = begin; part < end; ++part) {
      parts.Start(part);
      A* dw = parts.Filter(part);
      A* db = parts.Bias(part);
      for (int64_t unit = parts.FirstUnit(part); unit < parts.FirstUnit(part + 1); ++unit) {
        const int64_t n = unit / tiles_per_item;
        const int64_t o0 = (unit % tiles_per_item) * tile;
        const int64_t rows = std::min(tile, g.out_steps - o0);
        const int64_t span = (rows - 1) * s + g.kernel_extent;
        if (m == 1 && DenseInSpan(span, rows, kernel)) {
          // Half and bfloat16 windows inside the input are read in place for
          // the register sums (Slab would widen them); Slab itself returns
          // float and double ones in place.
          const int64_t step0 = o0 * s - pad;
          const bool windows_in_place = kNarrow<T> && dz_in_registers && step0 >= 0 &&
                                        step0 + span <= g.in_steps;
          const A* slab = windows_in_place ? nullptr
                                           : Slab<T, A>(g, input + n * in_item, g.in_steps, cin,
                                                        step0, span, &slab_scratch);
          if (dz_in_registers) {
            const T* dy = grad_output + n * out_item + o0 * cout;
            const T* v =
                act.kind == Activation::kLinear ? dy : operand + n * out_item + o0 * cout;
            const auto sum_tile = [&](const auto* x) {
              packets::WithPacketForm(act.kind, [&](auto kind) {
                constexpr Activation K =
                    std::is_same_v<A, float> ? decltype(kind)::value : Activation::kLinear;
                FilterGradTile<A, K>(x, s * cin, d * cin, dy, v, rows, cout, kernel, dw, db);
              });
            };
            windows_in_place ? sum_tile(input + n * in_item + step0 * cin) : sum_tile(slab);
            continue;
          }
          const A* dz = DzRows<T, A>(g, act, dz_is_dy, grad_output + n * out_item,
                                     operand + n * out_item, o0, rows, cout, &dz_scratch);
          FilterGradTile<A, Activation::kLinear>(slab, s * cin, d * cin, dz, dz, rows, cout,
                                                 kernel, dw, db);
          continue;
        }
        const A* dz = DzRows<T, A>(g, act, dz_is_dy, grad_output + n * out_item,
                                   operand + n * out_item, o0, rows, cout, &dz_scratch);
        rows_in.Load(input + n * in_item, o0 * s - pad, (rows - 1) * s + g.kernel_extent,
                     rows * kernel);
        for (int64_t r = 0; r < rows; ++r) {
          const A* dz_row = dz + r * cout;
          for (int64_t f = 0; f < cout; ++f) db[f] += dz_row[f];
          const int64_t step0 = (o0 + r) * s - pad;
          for (int64_t k = 0; k < kernel; ++k) {
            const A* x = rows_in.Row(step0 + k * d, k);
            if (x == nullptr) continue;
            A* dwk = dw + k * cout;
            if (m == 1) {
              for (int64_t f = 0; f < cout; ++f) dwk[f] += x[f] * dz_row[f];
            } else {
              for (int64_t ci = 0; ci < cin; ++ci) {
                const A v = x[ci];
                for (int64_t j = 0; j < m; ++j) dwk[ci * m + j] += v * dz_row[ci * m + j];
              }
            }
          }
        }
      }
    }
  });

  parts.Finish(runner, cout, grad_filter, grad_bias);
}

#define CONV1D_INSTANTIATE_DEPTHWISE(T, CudaT, name)                                        \
  template void DepthwiseForwardPass<T>(const Conv1DGeometry&, const ActivationSpec&,       \
                                        const T*, const T*, const T*, T*, T*,               \
                                        const ParallelRunner&);                              \
  template void DepthwiseBackpropInputPass<T>(const Conv1DGeometry&, const ActivationSpec&, \
                                              const T*, const T*, const T*, T*,             \
                                              const ParallelRunner&);                        \
  template void DepthwiseBackpropFilterPass<T>(const Conv1DGeometry&,                        \
                                               const ActivationSpec&, const T*, const T*,    \
                                               const T*, T*, T*, const ParallelRunner&);
CONV1D_DTYPES(CONV1D_INSTANTIATE_DEPTHWISE)
#undef CONV1D_INSTANTIATE_DEPTHWISE

}  // namespace TF_CONV1D_LEVEL_NAMESPACE
}  // namespace conv1d
