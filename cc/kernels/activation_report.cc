// The activation table (cc/kernels/core/activation_table.h) as JSON, for
// tf_conv1d_op/activations.py, read through ctypes at import: Python takes
// the names and the gradient's operand from the library instead of
// repeating them.
#include <string>

#include "cc/kernels/core/activations.h"

namespace {

const char* OperandName(conv1d::Operand operand) {
  switch (operand) {
    case conv1d::Operand::kOutput: return "output";
    case conv1d::Operand::kPreactivation: return "preactivation";
    case conv1d::Operand::kPreactivationIfNegativeSlope: return "preactivation_if_negative_slope";
  }
  return "";
}

}  // namespace

// Names hold no quote or backslash (they are the op's attribute values).
extern "C" __attribute__((visibility("default"))) const char* tf_conv1d_op_activations() {
  static const std::string report = [] {
    std::string json = "[";
    for (const conv1d::Activation kind : conv1d::kActivations) {
      json += std::string(json.size() > 1 ? ", " : "") + "{\"name\": \"" +
              conv1d::ActivationName(kind) + "\", \"operand\": \"" +
              OperandName(conv1d::OperandOf(kind)) + "\"}";
    }
    return json + "]";
  }();
  return report.c_str();
}
