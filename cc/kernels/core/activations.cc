#include "cc/kernels/core/activations.h"

namespace conv1d {
namespace {

struct Row {
  const char* name;
  Activation kind;
};

constexpr Row kRows[] = {
#define CONV1D_ACTIVATION_ROW(kind, name, operand, in_registers) {name, Activation::kind},
    CONV1D_ACTIVATIONS(CONV1D_ACTIVATION_ROW)
#undef CONV1D_ACTIVATION_ROW
};

}  // namespace

bool ParseActivation(const std::string& name, Activation* out) {
  for (const Row& row : kRows) {
    if (name == row.name) {
      *out = row.kind;
      return true;
    }
  }
  return false;
}

const char* ActivationName(Activation kind) {
  for (const Row& row : kRows) {
    if (row.kind == kind) return row.name;
  }
  return "";
}

const char* ActivationNames() {
  static const std::string names = [] {
    std::string joined;
    for (const Row& row : kRows) joined += (joined.empty() ? "" : ", ") + std::string(row.name);
    return joined;
  }();
  return names.c_str();
}

}  // namespace conv1d
