#include "cc/kernels/core/activations.h"

namespace conv1d {

bool ParseActivation(const std::string& name, Activation* out) {
  static const struct { const char* name; Activation kind; } kNames[] = {
      {"linear", Activation::kLinear},       {"relu", Activation::kRelu},
      {"relu6", Activation::kRelu6},         {"leaky_relu", Activation::kLeakyRelu},
      {"elu", Activation::kElu},             {"selu", Activation::kSelu},
      {"gelu", Activation::kGelu},           {"gelu_tanh", Activation::kGeluTanh},
      {"silu", Activation::kSilu},           {"sigmoid", Activation::kSigmoid},
      {"hard_sigmoid", Activation::kHardSigmoid}, {"tanh", Activation::kTanh},
      {"softplus", Activation::kSoftplus},
  };
  for (const auto& entry : kNames) {
    if (name == entry.name) {
      *out = entry.kind;
      return true;
    }
  }
  return false;
}

}  // namespace conv1d
