// The CPU levels of this library as JSON, for tf_conv1d_op/_library.py (read
// through ctypes at import, so that a TF_CONV1D_ISA the CPU cannot honour is
// an ImportError naming the variable) and `python -m tf_conv1d_op info`.
#include <string>
#include <vector>

#include "cc/kernels/core/cpu_isa.h"

namespace {

std::string JsonNames(const std::vector<conv1d::cpu_isa::Level>& levels) {
  std::string json = "[";
  for (size_t i = 0; i < levels.size(); ++i) {
    json += (i ? ", \"" : "\"") + std::string(conv1d::cpu_isa::Name(levels[i])) + "\"";
  }
  return json + "]";
}

// Level names and the fixed texts of cpu_isa.cc hold no quote or backslash;
// the forced name, which the user typed, may.
std::string JsonString(const std::string& text) {
  std::string json = "\"";
  for (char c : text) {
    if (c == '"' || c == '\\') json += '\\';
    if (static_cast<unsigned char>(c) >= 0x20) json += c;
  }
  return json + "\"";
}

}  // namespace

extern "C" __attribute__((visibility("default"))) const char* tf_conv1d_op_cpu_levels() {
  namespace isa = conv1d::cpu_isa;
  const bool avx512 = isa::Selected().level == isa::Level::kAvx512;
  static const std::string report =
      "{\"compiled\": " + JsonNames(isa::CompiledLevels()) +
      ", \"supported\": " + JsonNames(isa::SupportedLevels()) +
      ", \"selected\": " + JsonString(isa::Name(isa::Selected().level)) +
      ", \"error\": " + JsonString(isa::Selected().error) +
      // The avx512 level's bfloat16 products run on AVX512_BF16 where the CPU
      // has it (bf16_pair_passes.h), on AMX tiles where it has those too
      // (gemm_amx.h); the lower levels' copies have neither.
      ", \"bf16_dot\": " + (avx512 && isa::CpuHasBf16Dot() ? "true" : "false") +
      ", \"bf16_amx\": " + (avx512 && isa::CpuHasAmxBf16() ? "true" : "false") + "}";
  return report.c_str();
}
