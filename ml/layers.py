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


@keras.saving.register_keras_serializable(package="birdsite")
class BirdEvidenceMap(keras.layers.Layer):
    """Where in the frame the ImageNet classifier sees a bird: [n, h, w, c] activations of the
    last convolution and the ImageNet logits -> [n, h, w].

    The ImageNet head is linear after average pooling, so projecting each position's
    activations on the bird classes' weights gives exactly that position's share of those
    classes' logits (a class activation map). Each bird class counts by its probability among the
    bird classes, so the map follows whichever bird the classifier believes in.
    """

    def __init__(self, bird_class_ids: list[int] | tuple[int, ...], **kwargs) -> None:
        super().__init__(**kwargs)
        self.bird_class_ids = [int(i) for i in bird_class_ids]

    def build(self, input_shape) -> None:
        channels = int(input_shape[0][-1])
        self.kernel = self.add_weight(
            name="kernel",
            shape=(channels, len(self.bird_class_ids)),
            initializer="zeros",
            trainable=False,
        )

    def call(self, inputs):
        activations, logits = inputs
        evidence = ops.matmul(activations, self.kernel)  # [n, h, w, birds]
        bird_logits = ops.take(logits, self.bird_class_ids, axis=-1)
        share = ops.softmax(bird_logits, axis=-1)[:, None, None, :]
        return ops.sum(evidence * share, axis=-1)

    def get_config(self) -> dict:
        return {**super().get_config(), "bird_class_ids": self.bird_class_ids}
