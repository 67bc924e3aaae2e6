"""The Keras that tf.keras resolves to: Keras 3, or tf-keras (Keras 2) when
TF_USE_LEGACY_KERAS=1. The layer is written against what both share; the few
places where they differ read these flags."""
import tensorflow as tf

keras = tf.keras

# Keras 3 has keras.version(); tf-keras has no such function.
IS_KERAS_3 = hasattr(keras, "version")

# The stock Conv1D keeps its kernel in `_kernel` under Keras 3 (behind a
# `kernel` property) and in `kernel` under Keras 2. The attribute name becomes
# the variable's name in tf.train.Checkpoint files, so ours uses the same one:
# checkpoints written from a stock model then load into ours.
KERNEL_ATTRIBUTE = "_kernel" if IS_KERAS_3 else "kernel"

# The stock DepthwiseConv1D's kernel: `kernel` under Keras 3, `depthwise_kernel`
# under Keras 2 (the variable's name too).
DEPTHWISE_KERNEL_ATTRIBUTE = "kernel" if IS_KERAS_3 else "depthwise_kernel"


def require_tensorflow_backend(layer_name):
    """Refuses to build a layer under Keras 3's JAX, PyTorch or NumPy backend
    (KERAS_BACKEND): the layers run TensorFlow ops, which those backends'
    tensors and tracing cannot carry, and would fail later with an error
    that does not say why. tf-keras always runs TensorFlow."""
    backend = keras.backend.backend()
    if backend != "tensorflow":
        raise RuntimeError(
            f"{layer_name} (tf_conv1d_op) runs TensorFlow ops and needs Keras' TensorFlow "
            f"backend; this process's Keras runs the {backend!r} backend (KERAS_BACKEND). "
            f"Use the stock Keras layer there, or set KERAS_BACKEND=tensorflow before Keras "
            f"is imported.")
