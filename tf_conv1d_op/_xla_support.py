"""Whether XLA can compile the op here: what `python -m tf_conv1d_op info`
reports. The library registers its XLA kernels with TensorFlow's XLA registry
(cc/kernels/xla/), which exposes them as kernels of the XLA_*_JIT devices
only once XLA has compiled something; so this compiles the op once, on a
tiny input, and then lists those kernels."""
import functools


@functools.lru_cache(maxsize=None)
def built():
    """Whether the loaded library has XLA kernels (its build info says so)."""
    from tf_conv1d_op import _library

    return bool(_library.build_info().get("xla_kernels"))


def can_compile():
    """Whether XLA can compile what fused_conv1d runs in this process: the
    composite implementation always (stock ops), the plugin with its XLA
    kernels."""
    from tf_conv1d_op import _implementation

    return _implementation.PROCESS_DEFAULT == _implementation.COMPOSITE or built()


def registered_xla_devices():
    """{"devices": XLA devices with a kernel of every op, "error": why
    compiling failed or None}."""
    import tensorflow as tf
    from tensorflow.python.framework import kernels

    import tf_conv1d_op
    from tf_conv1d_op import _op_names

    error = None
    try:
        x = tf.ones([1, 2, 1])
        tf.function(lambda x: tf_conv1d_op.fused_conv1d(x, tf.ones([1, 1, 1])),
                    jit_compile=True)(x)
    except (tf.errors.OpError, ValueError) as e:  # no XLA kernel, no XLA here
        error = f"{type(e).__name__}: {str(e).splitlines()[0]}"
    per_op = [{k.device_type for k in kernels.get_registered_kernels_for_op(op).kernel
               if k.device_type.startswith("XLA_")} for op in _op_names.ALL]
    return {"devices": sorted(set.intersection(*per_op)), "error": error}
