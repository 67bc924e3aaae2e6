"""Keras layers built on the fused op (Keras 3, or tf-keras when
TF_USE_LEGACY_KERAS=1: whichever tf.keras is)."""
from tf_conv1d_op.layers.conv1d import Conv1D
from tf_conv1d_op.layers.depthwise_conv1d import DepthwiseConv1D
from tf_conv1d_op.layers.separable_conv1d import SeparableConv1D

__all__ = ["Conv1D", "DepthwiseConv1D", "SeparableConv1D"]
