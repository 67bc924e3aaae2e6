// The namespace of the code compiled once per instruction-set level
// (cpu_isa.h). The build defines TF_CONV1D_LEVEL_NAMESPACE for each copy
// (isa_baseline, isa_avx2, isa_avx512), so the copies of the passes, tiles
// and GEMM, and of every inline function and template of theirs, are
// distinct symbols in one library. Files opening it write
//   namespace conv1d { inline namespace TF_CONV1D_LEVEL_NAMESPACE { ... } }
// and name their contents as before (conv1d::gemm::Gemm, ...).
#ifndef TF_CONV1D_OP_CORE_CPU_LEVEL_H_
#define TF_CONV1D_OP_CORE_CPU_LEVEL_H_

#ifndef TF_CONV1D_LEVEL_NAMESPACE
#error "compile the CPU passes once per level with -DTF_CONV1D_LEVEL_NAMESPACE=isa_<level> (build_tools/cpu_levels.py)"
#endif

#endif  // TF_CONV1D_OP_CORE_CPU_LEVEL_H_
