"""Serving predictions from a model directory on a runtime engine (``ml.runtimes``; LiteRT by
default), without importing TensorFlow."""

from __future__ import annotations

import dataclasses
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ml.calibration import verdict_of
from ml.constants import Verdict
from ml.finder import Box, Finder, FinderParams, blend_probabilities, square_around
from ml.images import ImageSource, Photo, load_photo, view_pixels
from ml.model_dir import ModelDir
from ml.runtimes import REFERENCE, Engine, RuntimeModel, load_model


@dataclass(frozen=True)
class Suggestion:
    index: int
    name: str
    scientific_name: str
    probability: float


@dataclass(frozen=True)
class Prediction:
    verdict: Verdict
    suggestions: list[Suggestion]
    bird_probability: float
    model_version: str
    latency_ms: float
    # the region the answer comes from, in full-resolution upright pixels (x, y, width, height):
    # a square around the bird ("finder" or "person") or the whole frame ("full")
    box: tuple[int, int, int, int] | None = None
    box_source: str = "full"
    found_box: tuple[int, int, int, int] | None = None  # the finder's tight box, when it ran


class Predictor:
    """One loaded model directory; `predict` is thread-safe (every runtime's model serialises
    its runs)."""

    def __init__(
        self,
        model_dir: Path,
        model: RuntimeModel,
        labels: list[dict],
        calibration: dict,
        metrics: dict,
        version: str,
        finder: Finder | None = None,
        engine: Engine = REFERENCE,
    ) -> None:
        self.model_dir = model_dir
        self.model = model
        self.engine = engine
        self.labels = labels
        self.calibration = calibration
        self.metrics = metrics
        self.version = version
        self.finder = finder  # None: a model trained before the finder (single pass)

    @classmethod
    def load(
        cls, model_dir: str | Path, *, num_threads: int | None = None, engine: Engine = REFERENCE
    ) -> Predictor:
        """Load a model directory on `engine`; `ml.model_dir.ModelDirError` names what is
        missing, `ml.runtimes.RuntimeUnavailable` why the engine cannot run it here."""
        model = ModelDir.open(path=model_dir)
        return cls(
            model.path,
            load_model(model_file=model.model_file, engine=engine, threads=num_threads),
            model.labels,
            model.calibration,
            model.metrics,
            model.version,
            model.finder,
            engine,
        )

    def predict(
        self,
        image: ImageSource | Photo,
        *,
        k: int = 5,
        box: Box | None = None,
        use_finder: bool = True,
    ) -> Prediction:
        """Top-k species and a verdict for a photo (or a `Photo` that `ml.images.load_photo` made).

        The full view always runs (its bird mass decides "no bird"). Then a square around `box`
        (a person's box, full-resolution upright pixels) or around the bird the finder located
        (when it is small in the frame) runs too, and the two answers are blended. Raises
        ml.images.ImageRejected for unusable files.
        """
        started = time.perf_counter()
        photo = image if isinstance(image, Photo) else load_photo(image)
        outputs = self.model.run(view_pixels(photo.image)[None])
        probabilities, bird = outputs[0][0], float(outputs[1].reshape(-1)[0])
        width, height = photo.image.size
        scale = photo.scale
        crop, found, source, weight = None, None, "full", 0.0
        params = self.finder.params if self.finder is not None else FinderParams()
        if box is not None:
            decoded = box.scaled(1 / scale)
            crop, source = (
                square_around(decoded, width=width, height=height, margin=params.margin),
                "person",
            )
            weight = params.crop_weight
        elif use_finder and self.finder is not None:
            plan = self.finder.plan(outputs[2][0], outputs[3][0], width=width, height=height)
            found = plan.found
            if plan.crop is not None:
                crop, source, weight = plan.crop, "finder", plan.weight
        if crop is not None:
            second = self.model.run(view_pixels(photo.image, box=crop.as_tuple())[None])[0][0]
            probabilities = blend_probabilities(probabilities, second, crop_weight=weight)
        result = self.decide(probabilities, bird, k=k, started=started)
        shown = crop or Box(0, 0, width, height)
        return dataclasses.replace(
            result,
            box=shown.scaled(scale).rounded(),
            box_source=source,
            found_box=None if found is None else found.scaled(scale).rounded(),
        )

    def decide(
        self, probabilities: np.ndarray, bird: float, *, k: int, started: float
    ) -> Prediction:
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
        verdict = verdict_of(
            bird_mass=bird,
            top_probability=suggestions[0].probability,
            calibration=self.calibration,
        )
        latency = (time.perf_counter() - started) * 1000
        return Prediction(verdict, suggestions, bird, self.version, round(latency, 2))
