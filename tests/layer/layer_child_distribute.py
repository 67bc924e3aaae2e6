"""Training under tf.distribute, run in fresh processes by
test_layer_distribute.py (devices and cluster must be set before TF starts).

    python tests/layer/layer_child_distribute.py mirrored OUT.npz
        Two logical CPU devices; trains once on one device and once under
        MirroredStrategy from the same weights; saves both results.
    python tests/layer/layer_child_distribute.py worker INDEX PORT0,PORT1 OUT.npz
        One of two MultiWorkerMirroredStrategy workers on 127.0.0.1.

The model, data and training are defined here so the test can run the
single-device reference itself.
"""
import json
import os
import sys

import numpy as np

GLOBAL_BATCH = 8


def data():
    rng = np.random.default_rng(7)
    return (rng.standard_normal((32, 24, 3)).astype(np.float32),
            rng.standard_normal((32, 2)).astype(np.float32))


def build_model():
    import tensorflow as tf

    import tf_conv1d_op

    keras = tf.keras
    model = keras.Sequential([
        keras.Input((24, 3)),
        tf_conv1d_op.Conv1D(8, 3, padding="causal", dilation_rate=2, activation="gelu"),
        tf_conv1d_op.Conv1D(6, 3, strides=2, activation="relu"),
        keras.layers.GlobalAveragePooling1D(),
        keras.layers.Dense(2),
    ])
    rng = np.random.default_rng(11)
    model.set_weights([rng.standard_normal(w.shape).astype(np.float32) * 0.3
                       for w in model.get_weights()])
    return model


def train_fit():
    """Trains build_model() on data() with model.fit; returns the weights."""
    import tensorflow as tf

    model = build_model()
    model.compile(optimizer=tf.keras.optimizers.SGD(0.05), loss="mse")
    x, y = data()
    model.fit(x, y, batch_size=GLOBAL_BATCH, epochs=3, shuffle=False, verbose=0)
    return model.get_weights()


def train_loop(strategy):
    """The same training as train_fit, as a custom loop under `strategy`.

    Keras 3's fit cannot run under MultiWorkerMirroredStrategy (it fails
    reducing the first batch, whatever the layers), hence this loop. The loss
    is the mean over the global batch, as fit's is.
    """
    import tensorflow as tf

    with strategy.scope():
        model = build_model()
        optimizer = tf.keras.optimizers.SGD(0.05)
    options = tf.data.Options()
    # Each worker takes its part of every global batch.
    options.experimental_distribute.auto_shard_policy = (
        tf.data.experimental.AutoShardPolicy.DATA)
    dataset = tf.data.Dataset.from_tensor_slices(data()).batch(GLOBAL_BATCH)
    dataset = strategy.experimental_distribute_dataset(dataset.with_options(options))

    def replica_step(x, y):
        with tf.GradientTape() as tape:
            per_example = tf.reduce_mean(tf.square(model(x, training=True) - y), axis=-1)
            loss = tf.nn.compute_average_loss(per_example, global_batch_size=GLOBAL_BATCH)
        grads = tape.gradient(loss, model.trainable_variables)
        optimizer.apply_gradients(zip(grads, model.trainable_variables))

    step = tf.function(lambda x, y: strategy.run(replica_step, args=(x, y)))
    for _ in range(3):
        for x, y in dataset:
            step(x, y)
    return model.get_weights()


def mirrored(out):
    import tensorflow as tf

    cpu = tf.config.list_physical_devices("CPU")[0]
    tf.config.set_logical_device_configuration(
        cpu, [tf.config.LogicalDeviceConfiguration()] * 2)
    single = train_fit()
    strategy = tf.distribute.MirroredStrategy(["/cpu:0", "/cpu:1"])
    with strategy.scope():
        distributed = train_fit()
    np.savez(out, replicas=strategy.num_replicas_in_sync,
             **{f"single_{i}": w for i, w in enumerate(single)},
             **{f"distributed_{i}": w for i, w in enumerate(distributed)})


def worker(index, ports, out):
    os.environ["TF_CONFIG"] = json.dumps({
        "cluster": {"worker": [f"127.0.0.1:{p}" for p in ports.split(",")]},
        "task": {"type": "worker", "index": int(index)},
    })
    import tensorflow as tf

    strategy = tf.distribute.MultiWorkerMirroredStrategy()
    weights = train_loop(strategy)
    np.savez(out, replicas=strategy.num_replicas_in_sync,
             **{f"distributed_{i}": w for i, w in enumerate(weights)})


if __name__ == "__main__":
    if sys.argv[1] == "mirrored":
        mirrored(sys.argv[2])
    else:
        worker(*sys.argv[2:5])
