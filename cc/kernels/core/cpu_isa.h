// The instruction-set levels the CPU passes are compiled for, and the choice
// among them when the library is loaded.
//
// The passes (conv1d_cpu.cc, gemm_kernel.cc) are compiled once per level
// with that level's -march, each copy in its own namespace (cpu_level.h); every
// other file, those that include TensorFlow's headers among them, is
// compiled for the baseline only. So the library runs on any x86-64 CPU that
// TensorFlow runs on, uses AVX2 or AVX-512 where the CPU (and the OS, which
// must save the wider registers) has them, and no TensorFlow or Eigen header
// is ever compiled with the build machine's newest instructions.
// build_tools/cpu_levels.py holds each level's flags.
#ifndef TF_CONV1D_OP_CORE_CPU_ISA_H_
#define TF_CONV1D_OP_CORE_CPU_ISA_H_

#include <string>
#include <vector>

namespace conv1d {
namespace cpu_isa {

// Lowest first. On other architectures than x86-64 only kBaseline exists.
enum class Level { kBaseline, kAvx2, kAvx512 };
constexpr Level kAllLevels[] = {Level::kBaseline, Level::kAvx2, Level::kAvx512};

// "baseline", "avx2", "avx512": the names TF_CONV1D_ISA takes.
const char* Name(Level level);

// The variable that forces a level (for tests and benchmarks).
constexpr const char* kForceVariable = "TF_CONV1D_ISA";

// Whether this CPU and its OS can run code compiled for the level: the
// instructions of x86-64-v3 (AVX2, FMA, BMI1/2, F16C, LZCNT, MOVBE) or
// x86-64-v4 (AVX-512 F, BW, CD, DQ, VL), and the register state the OS
// saves (XCR0). The baseline is what the library as a whole is built for.
bool CpuSupports(Level level);

// Whether the CPU has AVX512_BF16's dot products (Zen 4 and later, Cooper
// Lake and Sapphire Rapids and later), which the avx512 level's bfloat16
// forward uses (gemm::GemmBf16Pairs) where the CPU has them.
bool CpuHasBf16Dot();

// Whether the avx512 level's bfloat16 products run on AMX tiles
// (gemm_amx.h): the CPU has AMX-TILE and AMX-BF16 besides AVX512_BF16
// (Sapphire Rapids and later), the OS saves the tiles' state and, on Linux,
// grants it to this process (asked for once, as oneDNN does), and
// TF_CONV1D_AMX is not 0 (which keeps the AVX512_BF16 dot products, for tests
// and benchmarks).
bool CpuHasAmxBf16();
constexpr const char* kAmxVariable = "TF_CONV1D_AMX";

// The level the passes run at: the highest one compiled in and supported,
// or the one TF_CONV1D_ISA names. `error` says why that name cannot be
// used (unknown, not compiled in, or not supported by this CPU); the passes
// then refuse to run rather than risk an illegal instruction.
struct Selection {
  Level level = Level::kBaseline;
  std::string error;
};

// Decided once per process, at the first call.
const Selection& Selected();

// The levels linked into this library (lowest first), and those of them this
// CPU supports.
std::vector<Level> CompiledLevels();
std::vector<Level> SupportedLevels();

// The selection for a given TF_CONV1D_ISA value (null: unset); Selected()
// makes it once from the environment.
Selection Select(const char* forced);

}  // namespace cpu_isa
}  // namespace conv1d

#endif  // TF_CONV1D_OP_CORE_CPU_ISA_H_
