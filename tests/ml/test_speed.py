"""Throughput and training-speed changes: parallel feature extraction, tuned defaults file,
and the one-random-view-per-epoch head training."""

from __future__ import annotations

import json
import threading
import time
from pathlib import Path

import numpy as np
import pytest

from ml.features import extract
from ml.model import HeadParams, tuned_params
from tests.ml.photos import BIRDS525


class SlowMeans:
    """A thread-safe stand-in backbone that sleeps like an interpreter releasing the GIL."""

    id = "test-slow-means"

    def __init__(self, workers: int) -> None:
        self.workers = workers
        self.active = 0
        self.most_active = 0
        self._lock = threading.Lock()

    def __call__(self, pixels: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        with self._lock:
            self.active += 1
            self.most_active = max(self.most_active, self.active)
        time.sleep(0.01)
        with self._lock:
            self.active -= 1
        means = pixels.reshape(len(pixels), -1, 3).mean(axis=1)
        pooled = np.repeat(means, 1280 // 3 + 1, axis=1)[:, :1280]
        maps = np.zeros((len(pixels), 7, 7), np.float32)
        return pooled.astype(np.float32), means[:, 0].astype(np.float32) / 255, maps


def test_parallel_extraction_matches_serial_in_order(tmp_path: Path) -> None:
    paths = sorted((BIRDS525 / "valid").glob("*/*.jpg"))[:24]
    if not paths:
        pytest.skip("development photos not found")
    serial = extract(
        paths, views=2, extractor=SlowMeans(1), cache_dir=tmp_path / "one", progress=False
    )
    backbone = SlowMeans(2)
    parallel = extract(
        paths, views=2, extractor=backbone, cache_dir=tmp_path / "two", progress=False
    )
    assert backbone.most_active == 2  # both workers ran at once
    assert parallel.kept == serial.kept == list(range(24))
    assert np.allclose(parallel.pooled, serial.pooled, atol=0.05)
    assert np.allclose(parallel.bird, serial.bird)


def test_tuned_params_file_updates_the_builtin_defaults(tmp_path: Path) -> None:
    base = HeadParams()
    assert tuned_params(tmp_path / "missing.json") == base
    path = tmp_path / "tuned_params.json"
    path.write_text(json.dumps({"params": {"learning_rate": 0.001, "dense1": 512}, "command": "x"}))
    tuned = tuned_params(path)
    assert (tuned.learning_rate, tuned.dense1, tuned.dense2) == (0.001, 512, base.dense2)
    path.write_text(json.dumps({"params": {"dens1": 512}}))
    with pytest.raises(ValueError, match="unknown parameters dens1"):
        tuned_params(path)


def test_committed_tuned_params_are_valid() -> None:
    from ml.model import DEFAULT_PARAMS, TUNED_PARAMS_FILE

    if not TUNED_PARAMS_FILE.is_file():
        pytest.skip("no tuned defaults committed")
    saved = json.loads(TUNED_PARAMS_FILE.read_text())
    assert {"params", "command", "date", "objective"} <= set(saved)
    assert "tune_model" in saved["command"]
    for name, value in saved["params"].items():
        assert getattr(DEFAULT_PARAMS, name) == value


@pytest.mark.slow
def test_fit_head_one_view_per_epoch_learns_and_is_deterministic() -> None:
    from ml.train import ServedViews, TrainingData, fit_head, head_logits

    rng = np.random.default_rng(0)
    centres = rng.normal(size=(4, 1280)).astype(np.float32)
    labels = np.repeat(np.arange(4), 12)
    noise = rng.normal(scale=2.0, size=(48, 3, 1280)).astype(np.float32)
    x = centres[labels][:, None] + noise
    held = np.arange(48) % 6 == 0
    data = TrainingData(
        ["A", "B", "C", "D"],
        x[~held],
        labels[~held],
        ServedViews(x[held][:, :2]),
        labels[held],
        np.ones((~held).sum(), np.float32),
        np.ones(held.sum(), np.float32),
    )
    params = HeadParams(epochs=15, patience=15, batch_size=16, dense1=64, dense2=32)
    head, history = fit_head(data, params=params, seed=3, verbose=0)
    assert set(history) == {"loss", "accuracy", "val_loss", "val_accuracy"}
    assert len(history["loss"]) == 15 and history["loss"][-1] < history["loss"][0]
    assert (head_logits(head, data.held.x).argmax(1) == data.y_held).mean() == 1.0
    _, history_again = fit_head(data, params=params, seed=3, verbose=0)
    assert history_again["loss"] == history["loss"]
    stopped = HeadParams(epochs=50, patience=2, batch_size=16, dense1=64, dense2=32)
    _, short = fit_head(data, params=stopped, seed=3, verbose=0)
    assert len(short["loss"]) < 50 or min(short["val_loss"]) == short["val_loss"][-1]


def test_tuned_params_are_saved_only_when_they_win() -> None:
    from ml.tune import tuned_wins

    assert tuned_wins({"weighted_f1": 0.91}, {"weighted_f1": 0.90})
    assert not tuned_wins({"weighted_f1": 0.899}, {"weighted_f1": 0.903})
    assert not tuned_wins({"weighted_f1": 0.9}, {"weighted_f1": 0.9})
    assert not tuned_wins(None, {"weighted_f1": 0.9})
