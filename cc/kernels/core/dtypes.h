// The element types the ops take, one row each:
//
//   X(CPU core and OpKernel type, CUDA core type, name in the op's T attribute)
//
// Every instantiation of the core, every kernel registration and the op's
// type list expand this list, each with its own three-argument macro.
#ifndef TF_CONV1D_OP_CORE_DTYPES_H_
#define TF_CONV1D_OP_CORE_DTYPES_H_

#define CONV1D_DTYPES(X)                       \
  X(Eigen::half, __half, half)                 \
  X(Eigen::bfloat16, __nv_bfloat16, bfloat16)  \
  X(float, float, float)                       \
  X(double, double, double)

#endif  // TF_CONV1D_OP_CORE_DTYPES_H_
