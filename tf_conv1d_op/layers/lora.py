"""LoRA (low-rank adaptation) for the fused layers, as Keras 3's stock
convolutions have it: `lora_rank` / `lora_alpha` in the config, and
`enable_lora` on a built layer.

With LoRA on, the op receives kernel + (lora_alpha / lora_rank) * A B, where
A [kernel_size, in_channels / groups, rank] and B [rank, filters] are float32
and trainable and the kernel is frozen. The op and its registered gradients
are unchanged: the low-rank product's gradient flows through Keras' matmul.
Weights files hold the merged kernel, as the stock layer's do, so they move
between the stock layer and ours in both directions.

Keras 3 only: tf-keras' convolutions have no LoRA, and there ours refuses
`lora_rank` as tf-keras' own layer does (an unknown keyword argument).
"""
import numbers

from tf_conv1d_op.layers._keras import keras


def _checked_rank(rank, layer):
    if isinstance(rank, bool) or not isinstance(rank, numbers.Integral) or rank <= 0:
        raise ValueError(f"{type(layer).__name__} {layer.name!r}: the LoRA rank must be a "
                         f"positive integer. Received: rank={rank!r}.")
    return int(rank)


def _checked_alpha(alpha, layer):
    if isinstance(alpha, bool) or not isinstance(alpha, numbers.Real):
        raise ValueError(f"{type(layer).__name__} {layer.name!r}: lora_alpha must be a "
                         f"number. Received: lora_alpha={alpha!r}.")
    return alpha


class LoraMixin:
    """The LoRA half of FusedConvBase (Keras 3). The layer keeps its kernel
    variable in `_kernel` and reads the kernel to use from `kernel`."""

    def _init_lora(self, lora_rank, lora_alpha):
        # None and 0 leave LoRA off, as in the stock layer; build enables it
        # for any other rank.
        if lora_rank:
            lora_rank = _checked_rank(lora_rank, self)
            lora_alpha = _checked_alpha(lora_alpha if lora_alpha is not None else lora_rank,
                                        self)
        self.lora_rank = lora_rank
        self.lora_alpha = lora_alpha if lora_alpha is not None else lora_rank
        self.lora_enabled = False

    def _build_lora(self):
        if self.lora_rank:
            self.enable_lora(self.lora_rank, lora_alpha=self.lora_alpha)

    @property
    def kernel(self):
        if not self.built:
            raise AttributeError("You must build the layer before accessing `kernel`.")
        if not self.lora_enabled:
            return self._kernel
        # Keras' own formula and dtype, so ours merges to the same bits.
        update = (self.lora_alpha / self.lora_rank) * keras.ops.matmul(
            self.lora_kernel_a, self.lora_kernel_b)
        return keras.ops.cast(keras.ops.add(self._kernel, update), dtype=self.compute_dtype)

    def enable_lora(self, rank, lora_alpha=None, a_initializer="he_uniform",
                    b_initializer="zeros"):
        """Freezes the kernel and adds the trainable low-rank pair A, B (A
        from a_initializer, B from b_initializer: zeros leave the layer's
        output unchanged until training moves them). Once per layer."""
        who = f"{type(self).__name__} {self.name!r}"
        if self.kernel_constraint:
            raise ValueError(f"{who}: LoRA is incompatible with kernel constraints. To "
                             "enable LoRA on this layer, remove the `kernel_constraint` "
                             "argument.")
        if not self.built:
            raise ValueError(f"{who}: cannot enable LoRA on a layer that isn't yet built.")
        if self.lora_enabled:
            raise ValueError(f"{who}: LoRA is already enabled; this can only be done once "
                             "per layer.")
        rank = _checked_rank(rank, self)
        lora_alpha = _checked_alpha(lora_alpha if lora_alpha is not None else rank, self)
        self._tracker.unlock()
        # float32 whatever the layer's dtype policy, as Keras makes them: small
        # updates would underflow in float16.
        self.lora_kernel_a = self.add_weight(
            name="lora_kernel_a", shape=tuple(self._kernel.shape[:-1]) + (rank,),
            initializer=keras.initializers.get(a_initializer), dtype="float32",
            regularizer=self.kernel_regularizer)
        self.lora_kernel_b = self.add_weight(
            name="lora_kernel_b", shape=(rank, self.filters),
            initializer=keras.initializers.get(b_initializer), dtype="float32",
            regularizer=self.kernel_regularizer)
        self._kernel.trainable = False
        self._tracker.lock()
        self.lora_enabled = True
        self.lora_rank = rank
        self.lora_alpha = lora_alpha

    def _saved_variables(self):
        return [self._kernel] + ([self.bias] if self.use_bias else [])

    def save_own_variables(self, store):
        if not self.lora_enabled:
            return super().save_own_variables(store)
        # The merged kernel in the kernel's place: the stock layer's file.
        for i, value in enumerate([self.kernel] + self._saved_variables()[1:]):
            store[str(i)] = value
        return None

    def load_own_variables(self, store):
        if not self.lora_enabled:
            return super().load_own_variables(store)
        # As the stock layer: the stored (merged) kernel becomes the frozen
        # kernel and both factors start again from zero.
        for i, variable in enumerate(self._saved_variables()):
            variable.assign(store[str(i)])
        for factor in (self.lora_kernel_a, self.lora_kernel_b):
            factor.assign(keras.ops.zeros(factor.shape))
        return None

    def _lora_config(self):
        if not self.lora_rank:
            return {}
        return {"lora_rank": self.lora_rank, "lora_alpha": self.lora_alpha}
