"""Serving predictions from a model directory with LiteRT only (no TensorFlow import)."""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ml.images import ImageSource, load_rgb
from ml.litert import LiteRTModel

VERDICTS = ("bird", "uncertain", "no_bird")


@dataclass(frozen=True)
class Suggestion:
    index: int
    name: str
    scientific_name: str
    probability: float


@dataclass(frozen=True)
class Prediction:
    verdict: str  # "bird" | "uncertain" | "no_bird"
    suggestions: list[Suggestion]
    bird_probability: float
    model_version: str
    latency_ms: float


class Predictor:
    """One loaded model directory; `predict` is thread-safe (LiteRTModel serialises its runs)."""

    def __init__(
        self,
        model_dir: Path,
        model: LiteRTModel,
        labels: list[dict],
        calibration: dict,
        metrics: dict,
        version: str,
    ) -> None:
        self.model_dir = model_dir
        self.model = model
        self.labels = labels
        self.calibration = calibration
        self.metrics = metrics
        self.version = version

    @classmethod
    def load(cls, model_dir: str | Path, num_threads: int | None = None) -> Predictor:
        """Read a model directory (see docs/architecture.md); errors name the missing file."""
        model_dir = Path(model_dir)
        missing = [
            n
            for n in ("model.tflite", "labels.json", "calibration.json", "version.json")
            if not (model_dir / n).is_file()
        ]
        if missing:
            raise FileNotFoundError(
                f"{model_dir} is not a complete model directory: missing {', '.join(missing)}"
            )

        def read(name: str) -> dict | list:
            path = model_dir / name
            return json.loads(path.read_text()) if path.is_file() else {}

        return cls(
            model_dir,
            LiteRTModel(model_dir / "model.tflite", num_threads=num_threads),
            read("labels.json"),
            read("calibration.json"),
            read("metrics.json"),
            read("version.json")["version"],
        )

    def predict(self, image: ImageSource | np.ndarray, k: int = 5) -> Prediction:
        """Top-k species and a verdict for a photo, or for pixels `ml.images.load_rgb` made.

        Raises ml.images.ImageRejected for unusable files.
        """
        started = time.perf_counter()
        rgb = image if isinstance(image, np.ndarray) else load_rgb(image)
        pixels = rgb[None].astype(np.float32)
        probabilities, bird = self.model.run(pixels)
        return self.decide(probabilities[0], float(bird.reshape(-1)[0]), k, started)

    def decide(self, probabilities: np.ndarray, bird: float, k: int, started: float) -> Prediction:
        top = np.argsort(-probabilities)[:k]
        suggestions = [
            Suggestion(
                int(i),
                self.labels[i]["name"],
                self.labels[i].get("scientific_name", ""),
                float(probabilities[i]),
            )
            for i in top
        ]
        if bird < self.calibration["no_bird_threshold"]:
            verdict = "no_bird"
        elif suggestions[0].probability < self.calibration["uncertain_threshold"]:
            verdict = "uncertain"
        else:
            verdict = "bird"
        latency = (time.perf_counter() - started) * 1000
        return Prediction(verdict, suggestions, bird, self.version, round(latency, 2))
