"""Keras -> TFLite export (float32), for the backbone and for the serving model.

Output contract: the TFLite file has one signature, ``serving_default``, with one input
``images`` (the Keras model's input shape, batch dimension dynamic) and outputs named
``output_0``, ``output_1``, ... in the order of the Keras model's outputs. TFLite may store
output tensors in any order; ``ml.litert`` maps them back by these names.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import keras

INPUT_NAME = "images"
SIGNATURE = "serving_default"
OUTPUT_PREFIX = "output_"


@contextlib.contextmanager
def atomic_output(path: str | Path) -> Iterator[Path]:
    """Yield a temp path beside ``path``; rename it onto ``path`` only if the block succeeds.

    The temp name keeps the final suffixes (Keras insists on ``.weights.h5``) and starts
    with a dot, so a failed or concurrent write never leaves a half file under the real name.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(
        dir=path.parent, prefix=f".{path.name}.", suffix="".join(path.suffixes)
    )
    os.close(fd)
    tmp = Path(tmp_name)
    try:
        yield tmp
        tmp.chmod(0o644)  # mkstemp makes 0600; web workers may run as another user
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


def output_name(index: int) -> str:
    return f"{OUTPUT_PREFIX}{index}"


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


def check_tflite(model: keras.Model, path: Path, atol: float = 1e-3) -> None:
    """Run the TFLite file and the Keras model on the same random batch; they must agree
    (``atol`` relative to the output's magnitude when above 1).

    Guards against silent converter failures (e.g. unfrozen variables give NaN outputs).
    """
    import numpy as np

    from ml.litert import LiteRTModel

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
    with atomic_output(path) as tmp:
        tmp.write_bytes(data)
        check_tflite(model, tmp)
    return Path(path)
