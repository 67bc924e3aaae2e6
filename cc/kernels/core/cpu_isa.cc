#include "cc/kernels/core/cpu_isa.h"

#include <cstdint>
#include <cstdlib>
#include <cstring>

#if defined(__x86_64__)
#include <cpuid.h>
#endif
#if defined(__x86_64__) && defined(__linux__)
#include <sys/syscall.h>
#include <unistd.h>
#endif

namespace conv1d {
namespace cpu_isa {
namespace {

#if defined(__x86_64__)
struct CpuidBits {
  uint32_t leaf1_ecx = 0, leaf7_ebx = 0, leaf7_edx = 0, leaf7_1_eax = 0, ext1_ecx = 0;
  uint64_t xcr0 = 0;  // the register state the OS saves on a context switch
};

CpuidBits ReadCpuid() {
  CpuidBits bits;
  unsigned eax, ebx, ecx, edx;
  if (__get_cpuid(1, &eax, &ebx, &ecx, &edx)) bits.leaf1_ecx = ecx;
  if (__get_cpuid_count(7, 0, &eax, &ebx, &ecx, &edx)) {
    bits.leaf7_ebx = ebx;
    bits.leaf7_edx = edx;
  }
  if (__get_cpuid_count(7, 1, &eax, &ebx, &ecx, &edx)) bits.leaf7_1_eax = eax;
  if (__get_cpuid(0x80000001u, &eax, &ebx, &ecx, &edx)) bits.ext1_ecx = ecx;
  // XGETBV exists only where the OS enabled XSAVE (OSXSAVE, leaf 1 ECX bit 27).
  if (bits.leaf1_ecx & (1u << 27)) {
    uint32_t lo, hi;
    __asm__ volatile("xgetbv" : "=a"(lo), "=d"(hi) : "c"(0));
    bits.xcr0 = (uint64_t{hi} << 32) | lo;
  }
  return bits;
}

bool AllSet(uint64_t value, uint64_t mask) { return (value & mask) == mask; }

constexpr uint32_t Bits(std::initializer_list<int> positions) {
  uint32_t mask = 0;
  for (int p : positions) mask |= 1u << p;
  return mask;
}

bool SupportsAvx2(const CpuidBits& b) {
  // FMA 12, MOVBE 22, OSXSAVE 27, AVX 28, F16C 29; BMI1 3, AVX2 5, BMI2 8; LZCNT 5.
  return AllSet(b.leaf1_ecx, Bits({12, 22, 27, 28, 29})) && AllSet(b.leaf7_ebx, Bits({3, 5, 8})) &&
         AllSet(b.ext1_ecx, Bits({5})) && AllSet(b.xcr0, 0x6);  // SSE and AVX state
}

bool SupportsAvx512(const CpuidBits& b) {
  // AVX512 F 16, DQ 17, CD 28, BW 30, VL 31; opmask, ZMM_Hi256, Hi16_ZMM state.
  return SupportsAvx2(b) && AllSet(b.leaf7_ebx, Bits({16, 17, 28, 30, 31})) &&
         AllSet(b.xcr0, 0xE6);
}

bool SupportsBf16Dot(const CpuidBits& b) {
  return SupportsAvx512(b) && AllSet(b.leaf7_1_eax, Bits({5}));  // AVX512_BF16
}

bool SupportsAmxBf16(const CpuidBits& b) {
  // AMX-BF16 22, AMX-TILE 24; the tile configuration and data state (XCR0 17, 18).
  return SupportsBf16Dot(b) && AllSet(b.leaf7_edx, Bits({22, 24})) &&
         AllSet(b.xcr0, uint64_t{3} << 17);
}

// Linux keeps the 8 KiB tile state off by default and grants it per process
// (arch_prctl ARCH_REQ_XCOMP_PERM for XFEATURE_XTILEDATA, Linux 5.16 and
// later); without it the first tile instruction faults.
bool ProcessMayUseTiles() {
#if defined(__linux__)
  constexpr long kRequestPermission = 0x1023, kTileData = 18;
  return syscall(SYS_arch_prctl, kRequestPermission, kTileData) == 0;
#else
  return false;
#endif
}
#endif

}  // namespace

const char* Name(Level level) {
  switch (level) {
    case Level::kBaseline: return "baseline";
    case Level::kAvx2: return "avx2";
    case Level::kAvx512: return "avx512";
  }
  return "unknown";
}

bool CpuSupports(Level level) {
  if (level == Level::kBaseline) return true;
#if defined(__x86_64__)
  static const CpuidBits bits = ReadCpuid();
  return level == Level::kAvx2 ? SupportsAvx2(bits) : SupportsAvx512(bits);
#else
  return false;
#endif
}

bool CpuHasBf16Dot() {
#if defined(__x86_64__)
  static const bool has = SupportsBf16Dot(ReadCpuid());
  return has;
#else
  return false;
#endif
}

bool CpuHasAmxBf16() {
#if defined(__x86_64__)
  static const bool has = [] {
    const char* wanted = std::getenv(kAmxVariable);
    if (wanted != nullptr && std::strcmp(wanted, "0") == 0) return false;
    return SupportsAmxBf16(ReadCpuid()) && ProcessMayUseTiles();
  }();
  return has;
#else
  return false;
#endif
}

}  // namespace cpu_isa
}  // namespace conv1d
