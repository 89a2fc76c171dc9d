"""Keras -> TFLite export (float32), for the backbone and for the serving model.

The file follows the contract `ml.litert` owns (one signature, one input, outputs named by
their index in the Keras model's outputs). TensorFlow is imported only inside the converter:
`ml.model_dir`, which serving imports, imports this module.
"""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from ml import atomic
from ml.litert import INPUT_NAME, SIGNATURE, LiteRTModel, output_name

if TYPE_CHECKING:
    import keras


def tflite_bytes(model: keras.Model) -> bytes:
    """Convert through a SavedModel (Keras 3's own path) with a dynamic batch, named outputs.

    Built-in ops only (LiteRT has no TF "flex" ops); variables are frozen into constants.
    """
    import tensorflow as tf
    from keras.export import ExportArchive

    if len(model.inputs) != 1:
        raise ValueError(f"export needs a single-input model, got {len(model.inputs)} inputs")
    spec = tf.TensorSpec([None, *model.inputs[0].shape[1:]], tf.float32, name=INPUT_NAME)

    def serve(images: tf.Tensor) -> dict[str, tf.Tensor]:
        outputs = model(images, training=False)
        if not isinstance(outputs, (list, tuple)):
            outputs = [outputs]
        return {output_name(i): out for i, out in enumerate(outputs)}

    with tempfile.TemporaryDirectory() as saved_model:
        archive = ExportArchive()
        archive.track(model)
        archive.add_endpoint(SIGNATURE, serve, input_signature=[spec])
        archive.write_out(saved_model, verbose=False)
        converter = tf.lite.TFLiteConverter.from_saved_model(saved_model)
        converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS]
        return converter.convert()


def check_tflite(model: keras.Model, path: Path, *, atol: float = 1e-3) -> None:
    """Run the TFLite file and the Keras model on the same random batch; they must agree
    (``atol`` relative to the output's magnitude when above 1).

    Guards against silent converter failures (e.g. unfrozen variables give NaN outputs).
    """
    shape = (2, *model.inputs[0].shape[1:])
    x = np.random.default_rng(0).uniform(0, 255, shape).astype(np.float32)
    expected = model.predict(x, verbose=0)
    expected = expected if isinstance(expected, (list, tuple)) else [expected]
    got = LiteRTModel(path, num_threads=1).run(x)
    for i, (g, e) in enumerate(zip(got, expected, strict=True)):
        diff = float(np.max(np.abs(g - e))) if g.shape == e.shape else float("inf")
        if not diff <= atol * max(1.0, float(np.max(np.abs(e)))):  # `not <=` also catches NaN
            raise ValueError(f"TFLite output {i} differs from Keras: {g.shape}, max diff {diff}")


def export_tflite(model: keras.Model, path: str | Path) -> Path:
    """Write ``model`` as a float32 TFLite file at ``path`` (atomically, checked against Keras)."""
    data = tflite_bytes(model)
    with atomic.replacing(path=path) as tmp:
        tmp.write_bytes(data)
        check_tflite(model, tmp)
    return Path(path)
