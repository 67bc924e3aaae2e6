"""The registered names of the ops (cc/ops/op_names.h holds them for C++).

Namespaced, as TensorFlow's custom-op RFC asks of out-of-tree ops: no other
plugin's op can take these names, and a SavedModel loaded without this package
fails with "Op type not registered 'TfConv1dOp>...'", which names it.
"""
NAMESPACE = "TfConv1dOp"
FORWARD = NAMESPACE + ">FusedConv1D"
BACKPROP_INPUT = NAMESPACE + ">FusedConv1DBackpropInput"
BACKPROP_FILTER = NAMESPACE + ">FusedConv1DBackpropFilter"
# One chunk of a stream: (state, chunk) -> (output, new_state), read in place.
STREAM = NAMESPACE + ">FusedConv1DStream"
ALL = (FORWARD, BACKPROP_INPUT, BACKPROP_FILTER, STREAM)
