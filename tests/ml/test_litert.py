"""ml.export + ml.litert: the output-order contract, threads, and no TensorFlow in web workers."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from ml import litert, threads

REPO = Path(__file__).resolve().parent.parent.parent


def test_litert_does_not_import_tensorflow() -> None:
    code = (
        "import sys, ml.litert, ml.export, ml.backbone, ml.finder, ml.predict, ml.field, "
        "ml.agreement, ml.runtimes, ml.openvino_runtime, ml.cli.check_runtimes\n"
        "assert not [m for m in sys.modules if m.split('.')[0] in ('tensorflow', 'keras')]\n"
    )
    subprocess.run([sys.executable, "-c", code], cwd=REPO, check=True)


def test_threads_default_from_env(monkeypatch) -> None:
    monkeypatch.setenv(threads.THREADS_ENV, "3")
    assert threads.default_threads() == 3
    monkeypatch.setenv(threads.THREADS_ENV, "zero")
    with pytest.raises(ValueError, match="positive integer"):
        threads.default_threads()
    monkeypatch.delenv(threads.THREADS_ENV)
    assert threads.default_threads() >= 1


def test_outputs_sorted_by_index_not_by_text() -> None:
    names = [f"output_{i}" for i in (10, 2, 0, 1)]
    assert litert._output_order(names) == ["output_0", "output_1", "output_2", "output_10"]
    with pytest.raises(ValueError, match=r"not made by ml\.export"):
        litert._output_order(["output_0", "logits"])


def serving_like_model():
    """Two outputs like the serving model: species probabilities [n,5], bird mass [n,1]."""
    import keras

    inputs = keras.Input((8, 8, 3))
    pooled = keras.layers.GlobalAveragePooling2D()(inputs)
    species = keras.layers.Dense(5, activation="softmax")(pooled)
    bird = keras.layers.Dense(1, activation="sigmoid")(pooled)
    return keras.Model(inputs, [species, bird])


@pytest.mark.slow
def test_export_keeps_keras_output_order(tmp_path: Path) -> None:
    """The small output comes second in Keras and must stay second in LiteRT."""
    from ml.export import export_tflite

    model = serving_like_model()
    path = export_tflite(model, tmp_path / "model.tflite")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["model.tflite"]

    runner = litert.LiteRTModel(path, num_threads=1)
    assert runner.output_names == ["output_0", "output_1"]
    x = np.random.default_rng(0).uniform(0, 255, (4, 8, 8, 3)).astype(np.float32)
    expected = model.predict(x, verbose=0)
    got = runner.run(x)
    assert [g.shape for g in got] == [(4, 5), (4, 1)]
    for g, e in zip(got, expected, strict=True):
        np.testing.assert_allclose(g, e, atol=1e-5)
    with pytest.raises(ValueError, match="expected input"):
        runner.run(np.zeros((1, 9, 8, 3), np.float32))


@pytest.mark.slow
def test_export_refuses_a_tflite_that_disagrees_with_keras(tmp_path: Path, monkeypatch) -> None:
    import keras

    from ml import export

    model = serving_like_model()
    # Negated weights turn every output around (two random models may agree once saturated).
    other = keras.models.clone_model(model)
    other.set_weights([-weights for weights in model.get_weights()])
    convert = export.tflite_bytes
    monkeypatch.setattr(export, "tflite_bytes", lambda model: convert(other))
    with pytest.raises(ValueError, match="differs from Keras"):
        export.export_tflite(model, tmp_path / "model.tflite")
    assert list(tmp_path.iterdir()) == []
