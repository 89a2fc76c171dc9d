"""The site's classifier: the active model, loaded once per worker and swapped on promotion.

Loading a model takes a while, predicting is fast: each worker process keeps one `Predictor`
and, at most every `RECHECK_SECONDS`, looks where `MODELS_DIR/active` points. A promotion
(the symlink moves) is picked up without a restart; requests keep using the old model until
the new one is loaded.
"""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from django.conf import settings
from PIL import Image

from classifier.uploads import rejection_for
from ml import registry
from ml.finder import Box
from ml.images import ImageRejected, Photo, load_photo

if TYPE_CHECKING:
    from ml.predict import Prediction, Predictor

logger = logging.getLogger("classifier.predictions")

RECHECK_SECONDS = 5.0


class ClassifierUnavailable(Exception):
    """No model is active (or it cannot be loaded); identification answers 503."""

    status_code = 503
    message = "The bird classifier is unavailable right now. Please try again later."


@dataclass
class _Loaded:
    model_dir: Path | None = None
    predictor: Predictor | None = None
    checked_at: float = float("-inf")


_loaded = _Loaded()
_lock = threading.Lock()


def active_model_dir() -> Path | None:
    """The resolved directory `MODELS_DIR/active` points to, or None when no model is active."""
    return registry.active_model_dir(models_root=Path(settings.MODELS_DIR))


def get_predictor() -> Predictor:
    """The active model's predictor; raises `ClassifierUnavailable` when there is none."""
    now = time.monotonic()
    if _loaded.predictor is not None and now - _loaded.checked_at < RECHECK_SECONDS:
        return _loaded.predictor
    with _lock:
        if _loaded.predictor is None or now - _loaded.checked_at >= RECHECK_SECONDS:
            _refresh(now)
        if _loaded.predictor is None:
            raise ClassifierUnavailable()
        return _loaded.predictor


def _refresh(now: float) -> None:
    """Load the model the `active` link points to, if it is not the one already loaded."""
    model_dir = active_model_dir()
    _loaded.checked_at = now
    if model_dir is None:
        _loaded.model_dir, _loaded.predictor = None, None
        return
    if model_dir == _loaded.model_dir and _loaded.predictor is not None:
        return
    from ml.predict import Predictor

    try:
        predictor = Predictor.load(model_dir)
    except Exception:
        logger.exception("cannot load the active model", extra={"model_dir": str(model_dir)})
        if _loaded.predictor is None:
            _loaded.model_dir = None
        return
    _loaded.model_dir, _loaded.predictor = model_dir, predictor
    logger.info(
        "loaded model %s",
        predictor.version,
        extra={"model_version": predictor.version, "model_dir": str(model_dir)},
    )


def reset_predictor() -> None:
    """Forget the loaded model (tests switch models between cases)."""
    with _lock:
        _loaded.model_dir, _loaded.predictor, _loaded.checked_at = None, None, float("-inf")


def load(*, image: bytes | Image.Image) -> Photo:
    """The photo decoded upright for the classifier, with its upright size at full resolution;
    a bad upload raises `UploadRejected`."""
    try:
        return load_photo(image, max_pixels=settings.MAX_IMAGE_PIXELS)
    except ImageRejected as error:
        raise rejection_for(error) from error


def predict(
    *, image: bytes | Image.Image | Photo, k: int = 5, box: Box | None = None
) -> Prediction:
    """Name the bird in a photo with the active model, and log the outcome and its latency.

    The photo is checked before the model is asked, so a bad upload is refused even when no
    model is active. Raw upload bytes are best: a large JPEG is decoded at the model's scale.
    `box` is a person's box in pixels of `image` upright at its full size (bytes: the photo's
    original size; a PIL image: its own size); the answer's `box` is in the same pixels.
    """
    started = time.perf_counter()
    photo = image if isinstance(image, Photo) else load(image=image)
    result = get_predictor().predict(photo, k=k, box=box)
    top = result.suggestions[0] if result.suggestions else None
    logger.info(
        "prediction %s",
        result.verdict,
        extra={
            "model_version": result.model_version,
            "latency_ms": round((time.perf_counter() - started) * 1000, 1),
            "verdict": result.verdict,
            "top_species": top.name if top else None,
            "top_probability": round(top.probability, 4) if top else None,
            "box_source": result.box_source,
        },
    )
    return result


@dataclass(frozen=True)
class Identification:
    """The classifier's answer and the region it comes from, in pixels of the photo upright at
    its ORIGINAL size (`photo_size`); `box` is None only for a photo smaller than a box."""

    prediction: Prediction
    box: tuple[int, int, int, int] | None
    box_source: str
    photo_size: tuple[int, int]

    def stored_fields(self) -> dict:
        """The identification as the fields of a pending photo or a sighting."""
        x, y, width, height = self.box or (None, None, None, None)
        return {
            "suggestions": [
                {"species": s.name, "probability": round(float(s.probability), 6)}
                for s in self.prediction.suggestions
            ],
            "verdict": self.prediction.verdict,
            "model_version": self.prediction.model_version,
            "box_x": x,
            "box_y": y,
            "box_width": width,
            "box_height": height,
            "box_source": self.box_source,
            "photo_width": self.photo_size[0],
            "photo_height": self.photo_size[1],
        }


def identify(
    *,
    image: bytes | Image.Image,
    box: str | None = None,
    original_size: tuple[int, int] | None = None,
    k: int = 5,
) -> Identification:
    """Predict on a photo, around the person's `box` ("x,y,width,height" text) when given.

    Boxes (given and answered) are in pixels of the photo upright at its original size:
    `original_size` when `image` is a smaller copy of it (the stored photo), else the size of
    `image` itself. Raises `InvalidBox` (before the model is asked), `UploadRejected` or
    `ClassifierUnavailable`.
    """
    from classifier.boxes import parse_box, whole_box

    photo = load(image=image)
    width, height = original_size or photo.size
    person = None
    if box is not None and str(box).strip():
        person = parse_box(text=box, width=width, height=height)
    factor = photo.size[0] / width  # full-size pixels of `image` per original pixel
    result = predict(image=photo, k=k, box=None if person is None else person.scaled(factor))
    used = None
    if result.box is not None:
        original = Box(*result.box).scaled(1 / factor)
        used = whole_box(original.as_tuple(), width=width, height=height)
    return Identification(
        prediction=result,
        box=used,
        box_source=result.box_source if used is not None else "full",
        photo_size=(width, height),
    )
