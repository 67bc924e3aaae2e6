// A host emulation of the CUDA pieces the core uses (see
// cc/kernels/core/gpu_platform.h), force-included with -include by the
// emulated build. The unchanged kernels then run on the CPU:
//
// - each block's threads are fibers that run until __syncthreads() or their
//   end; the scheduler resumes them in a new order after every barrier
//   (forward, reverse or shuffled), so a read of shared data another thread
//   writes in the same phase gives different results under different orders;
//   a barrier that not all threads reach is reported as a launch failure;
// - blocks run one at a time, so `__shared__` becomes `static`;
// - WMMA fragments are emulated per lane: a lane holds the whole A and B
//   tiles, but computes and stores only its own 8 of the 256 accumulator
//   elements, so a missing barrier around fragments still shows; pointer
//   alignment and leading dimensions are checked as the hardware requires;
// - "device" memory comes from conv1d_emu_alloc: pages that end at a guard
//   page (or start after one), so out-of-bounds reads fault.
#ifndef TF_CONV1D_OP_GPU_CHECK_CUDA_EMULATION_H_
#define TF_CONV1D_OP_GPU_CHECK_CUDA_EMULATION_H_

#define CONV1D_GPU_EMULATION_HEADER_INCLUDED 1

#include <cuda_bf16.h>  // host-capable; brings dim3, cudaStream_t, cudaError_t
#include <cuda_fp16.h>

#include <cmath>
#include <cstdint>
#include <functional>
#include <type_traits>

// Plain C++ for the execution-space and memory-space keywords.
#undef __global__
#undef __device__
#undef __host__
#undef __forceinline__
#undef __launch_bounds__
#undef __shared__
#undef __align__
#define __global__
#define __device__
#define __host__
#define __forceinline__ inline
#define __launch_bounds__(...)
#define __shared__ static
#define __align__(n) __attribute__((aligned(n)))

namespace conv1d_emu {

// The running thread's coordinates (one OS thread runs all fibers).
inline dim3 thread_idx, block_idx, block_dim, grid_dim;

int LinearThreadIndex();
void Barrier();  // __syncthreads
void Fail(const char* message);  // marks the launch failed and stops the kernel
cudaError_t Run(dim3 grid, dim3 block, const std::function<void()>& body);
const char* LastError();

}  // namespace conv1d_emu

#define threadIdx (::conv1d_emu::thread_idx)
#define blockIdx (::conv1d_emu::block_idx)
#define blockDim (::conv1d_emu::block_dim)
#define gridDim (::conv1d_emu::grid_dim)

inline void __syncthreads() { conv1d_emu::Barrier(); }

namespace conv1d {
namespace gpu {

template <typename... Params>
cudaError_t LaunchWithParams(void (*kernel)(Params...), dim3 grid, dim3 block,
                             cudaStream_t, Params... params) {
  return conv1d_emu::Run(grid, block, [=]() { kernel(params...); });
}

inline const char* ErrorString(cudaError_t) { return conv1d_emu::LastError(); }

}  // namespace gpu
}  // namespace conv1d

// ------------------------------------------------------------------ WMMA

namespace nvcuda {
namespace wmma {

struct matrix_a {};
struct matrix_b {};
struct accumulator {};
struct row_major {};
struct col_major {};
enum layout_t { mem_row_major, mem_col_major };

template <class Use, int M, int N, int K>
struct FragmentShape;
template <int M, int N, int K>
struct FragmentShape<matrix_a, M, N, K> {
  static constexpr int kRows = M, kCols = K;
};
template <int M, int N, int K>
struct FragmentShape<matrix_b, M, N, K> {
  static constexpr int kRows = K, kCols = N;
};
template <int M, int N, int K>
struct FragmentShape<accumulator, M, N, K> {
  static constexpr int kRows = M, kCols = N;
};

template <class Use, int M, int N, int K, class T, class Layout = void>
struct fragment {
  static constexpr int kRows = FragmentShape<Use, M, N, K>::kRows;
  static constexpr int kCols = FragmentShape<Use, M, N, K>::kCols;
  T x[kRows * kCols];  // row-major, the whole matrix
};

inline float ToFloat(float v) { return v; }
inline float ToFloat(__half v) { return __half2float(v); }
inline float ToFloat(__nv_bfloat16 v) { return __bfloat162float(v); }

inline int Lane() { return conv1d_emu::LinearThreadIndex() % 32; }
inline bool Owns(int element) { return element % 32 == Lane(); }

inline void CheckOperand(const void* p, unsigned ldm, size_t element_size) {
  if (reinterpret_cast<uintptr_t>(p) % 32 != 0) {
    conv1d_emu::Fail("WMMA pointer not 256-bit aligned");
  }
  if ((ldm * element_size) % 16 != 0) {
    conv1d_emu::Fail("WMMA leading dimension not a multiple of 16 bytes");
  }
}

template <class Use, int M, int N, int K, class T, class Layout>
void load_matrix_sync(fragment<Use, M, N, K, T, Layout>& f, const T* p, unsigned ldm) {
  static_assert(std::is_same<Layout, row_major>::value || std::is_same<Layout, col_major>::value,
                "operand fragments carry their layout");
  CheckOperand(p, ldm, sizeof(T));
  using F = fragment<Use, M, N, K, T, Layout>;
  for (int i = 0; i < F::kRows; ++i) {
    for (int j = 0; j < F::kCols; ++j) {
      f.x[i * F::kCols + j] =
          std::is_same<Layout, row_major>::value ? p[i * ldm + j] : p[i + j * ldm];
    }
  }
}

template <int M, int N, int K>
void fill_fragment(fragment<accumulator, M, N, K, float>& f, float value) {
  for (float& v : f.x) v = value;
}

template <int M, int N, int K, class T, class LA, class LB>
void mma_sync(fragment<accumulator, M, N, K, float>& d,
              const fragment<matrix_a, M, N, K, T, LA>& a,
              const fragment<matrix_b, M, N, K, T, LB>& b,
              const fragment<accumulator, M, N, K, float>& c) {
  for (int e = 0; e < M * N; ++e) {
    if (!Owns(e)) continue;
    const int i = e / N, j = e % N;
    float sum = c.x[e];
    for (int k = 0; k < K; ++k) {
      sum = std::fma(ToFloat(a.x[i * K + k]), ToFloat(b.x[k * N + j]), sum);
    }
    d.x[e] = sum;
  }
}

template <int M, int N, int K>
void store_matrix_sync(float* p, const fragment<accumulator, M, N, K, float>& f, unsigned ldm,
                       layout_t layout) {
  CheckOperand(p, ldm, sizeof(float));
  for (int e = 0; e < M * N; ++e) {
    if (!Owns(e)) continue;
    const int i = e / N, j = e % N;
    if (layout == mem_row_major) {
      p[i * ldm + j] = f.x[e];
    } else {
      p[i + j * ldm] = f.x[e];
    }
  }
}

}  // namespace wmma
}  // namespace nvcuda

#endif  // TF_CONV1D_OP_GPU_CHECK_CUDA_EMULATION_H_
