"""Custom Keras layers of the head (imported wherever a head or model.keras is built or loaded)."""

from __future__ import annotations

import keras
from keras import ops


@keras.saving.register_keras_serializable(package="birdsite")
class FeatureNormalization(keras.layers.Layer):
    """Signed square root, L2 normalisation, then a fixed scale.

    Few-shot heads on pooled CNN features generalise better after the square root (it damps the
    few dominant channels) and unit length; the scale keeps the next layer's inputs near unit
    size per feature so its default initialisation and learning rate fit.
    """

    def __init__(self, scale: float = 10.0, **kwargs) -> None:
        super().__init__(**kwargs)
        self.scale = float(scale)

    def call(self, inputs):
        rooted = ops.sign(inputs) * ops.sqrt(ops.abs(inputs))
        norm = ops.sqrt(ops.maximum(ops.sum(ops.square(rooted), axis=-1, keepdims=True), 1e-12))
        return rooted / norm * self.scale

    def get_config(self) -> dict:
        return {**super().get_config(), "scale": self.scale}
