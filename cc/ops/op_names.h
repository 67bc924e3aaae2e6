// The registered names of the ops. Namespaced ("Package>Op", the rule
// of TensorFlow's custom-op RFC) so that they cannot collide with another
// plugin's ops and so that "Op type not registered" names this package.
// tf_conv1d_op/_op_names.py holds the same names for Python.
#ifndef TF_CONV1D_OP_CC_OPS_OP_NAMES_H_
#define TF_CONV1D_OP_CC_OPS_OP_NAMES_H_

namespace tf_conv1d_op {

inline constexpr char kForwardOpName[] = "TfConv1dOp>FusedConv1D";
inline constexpr char kBackpropInputOpName[] = "TfConv1dOp>FusedConv1DBackpropInput";
inline constexpr char kBackpropFilterOpName[] = "TfConv1dOp>FusedConv1DBackpropFilter";
// One chunk of a stream: state and chunk read in place (core/conv1d_stream.h).
inline constexpr char kStreamOpName[] = "TfConv1dOp>FusedConv1DStream";

}  // namespace tf_conv1d_op

#endif  // TF_CONV1D_OP_CC_OPS_OP_NAMES_H_
