// What the CUDA core takes from the platform: the CUDA runtime (types, kernel
// launch, error strings), the 16-bit float types and WMMA.
//
// With CONV1D_GPU_EMULATION defined, the build force-includes a host
// emulation of exactly these pieces instead (python/gpu_check/emulation/), so
// the unchanged kernels run on the CPU in tests. The kernels must therefore
// use nothing else from CUDA: no warp shuffles, atomics or intrinsics beyond
// the conversions of cuda_fp16.h / cuda_bf16.h (and __umulhi, only where
// __CUDA_ARCH__ is defined).
#ifndef TF_CONV1D_OP_CORE_GPU_PLATFORM_H_
#define TF_CONV1D_OP_CORE_GPU_PLATFORM_H_

#if defined(CONV1D_GPU_EMULATION)
#if !defined(CONV1D_GPU_EMULATION_HEADER_INCLUDED)
#error "CONV1D_GPU_EMULATION builds must force-include the emulation header"
#endif
#else
#include <cuda_bf16.h>
#include <cuda_fp16.h>
#include <cuda_runtime.h>
#include <mma.h>
#endif

namespace conv1d {
namespace gpu {

#if !defined(CONV1D_GPU_EMULATION)
// kernel<<<grid, block, 0, stream>>>(args...) through cudaLaunchKernel, which
// returns this launch's error instead of a sticky one left by earlier calls.
template <typename... Params>
cudaError_t LaunchWithParams(void (*kernel)(Params...), dim3 grid, dim3 block,
                             cudaStream_t stream, Params... params) {
  void* args[] = {static_cast<void*>(&params)...};
  return cudaLaunchKernel(reinterpret_cast<const void*>(kernel), grid, block,
                          args, 0, stream);
}

inline const char* ErrorString(cudaError_t error) {
  return cudaGetErrorString(error);
}
#endif

template <typename... Params, typename... Args>
cudaError_t Launch(void (*kernel)(Params...), dim3 grid, dim3 block,
                   cudaStream_t stream, Args... args) {
  static_assert(sizeof...(Params) == sizeof...(Args), "kernel arity");
  return LaunchWithParams<Params...>(kernel, grid, block, stream,
                                     static_cast<Params>(args)...);
}

}  // namespace gpu
}  // namespace conv1d

#endif  // TF_CONV1D_OP_CORE_GPU_PLATFORM_H_
