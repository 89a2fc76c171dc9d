"""The site's classifier: the active model, loaded once per worker and swapped on promotion.

Loading a model takes a while, predicting is fast: each worker process keeps one `Predictor`
and, at most every `RECHECK_SECONDS`, looks where `MODELS_DIR/active` points and which runtime
engine serves it here (`settings.MODEL_RUNTIME`; `auto` asks `ml.agreement.choose_engine`). A
promotion (the symlink moves) or a finished agreement check is picked up without a restart;
requests keep using what is loaded until its successor is.

With the S3 model store (`BIRDSITE_MODEL_STORE=s3`), the active model is the version of the
latest `ModelPromotion` instead, read at the same recheck (one query of a small table, cached in
the worker until the next): a version this host lacks is fetched into `MODELS_DIR/<version>` and
checked against its manifest (`classifier.model_store.fetch`) before it is loaded. While it
cannot be (S3 or the database down, a file that fails its checksum), the worker keeps serving
what it has, says `stale` in `/readyz`, logs why, and tries again at each recheck.

A refresh runs in one request thread of the worker; the others go on with the loaded model
meanwhile instead of waiting for it.

With `auto`, a model whose engines are not all checked on this host yet is served on LiteRT
while a separate process (`python -m ml check_runtimes`, started here once per model and
worker; the check's own lock keeps it to one per host) compares them on real photos.
"""

from __future__ import annotations

import logging
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from django.conf import settings
from django.db import DatabaseError
from PIL import Image

from classifier import model_store
from classifier.uploads import rejection_for
from ml import registry
from ml.agreement import AgreementStore, choose_engine
from ml.finder import Box
from ml.images import ImageRejected, Photo, load_photo
from ml.model_dir import ModelDir, ModelDirError
from ml.runtimes import REFERENCE, Engine

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
    engine: Engine | None = None
    predictor: Predictor | None = None
    checked_at: float = float("-inf")
    wanted: str | None = None  # the active version when it is not the one served (stale)
    stale_reason: str = ""
    checks_started: set[str] = field(default_factory=set)  # model versions
    failed: set[tuple[str, Engine]] = field(default_factory=set)  # (model version, engine)


_loaded = _Loaded()
_lock = threading.Lock()


def active_model_dir() -> Path | None:
    """The resolved directory `MODELS_DIR/active` points to, or None when no model is active."""
    return registry.active_model_dir(models_root=Path(settings.MODELS_DIR))


def active_version() -> str | None:
    """The version the site serves: the latest promotion's with the S3 model store, else that of
    the model the `active` link points to."""
    if model_store.enabled():
        return model_store.active_version()
    model_dir = active_model_dir()
    return None if model_dir is None else ModelDir.open(path=model_dir).version


@dataclass(frozen=True)
class ModelStatus:
    """What `/readyz` says of the model: the version served and, when it is `stale`, the
    version that is active but could not be fetched yet."""

    version: str
    stale: bool
    active: str


def model_status() -> ModelStatus:
    """The served model's status; raises `ClassifierUnavailable` when none is loaded."""
    predictor = get_predictor()
    wanted = _loaded.wanted
    return ModelStatus(predictor.version, wanted is not None, wanted or predictor.version)


def get_predictor() -> Predictor:
    """The active model's predictor; raises `ClassifierUnavailable` when there is none."""
    now = time.monotonic()
    current = _loaded.predictor
    if current is not None and now - _loaded.checked_at < RECHECK_SECONDS:
        return current
    if current is not None:
        if not _lock.acquire(blocking=False):  # another thread refreshes: serve what is loaded
            return current
    else:
        _lock.acquire()
    try:
        if _loaded.predictor is None or now - _loaded.checked_at >= RECHECK_SECONDS:
            _refresh(now)
        if _loaded.predictor is None:
            raise ClassifierUnavailable()
        return _loaded.predictor
    finally:
        _lock.release()


def _refresh(now: float) -> None:
    """Load the active model on the engine chosen for it, unless that is what is loaded
    already."""
    _loaded.checked_at = now
    try:
        model = _active_model()
    except ModelDirError:  # replaced between the link's check and ours: the next refresh
        return
    except _Stale as stale:
        _mark_stale(version=stale.version, reason=stale.reason)
        return
    if model is None:
        _loaded.model_dir, _loaded.engine, _loaded.predictor = None, None, None
        _loaded.wanted = None
        return
    engine = _engine_for(model)
    if (model.path, engine) == (_loaded.model_dir, _loaded.engine) and _loaded.predictor:
        _loaded.wanted = None
        return
    predictor = _load_predictor(model, engine)
    if predictor is None and engine != REFERENCE:
        _loaded.failed.add((model.version, engine))
        predictor = _load_predictor(model, REFERENCE)
    if predictor is None:
        if _loaded.predictor is None:
            _loaded.model_dir, _loaded.engine = None, None
        else:
            _mark_stale(version=model.version, reason="it cannot be loaded (the error is above)")
        return
    _loaded.model_dir, _loaded.engine, _loaded.predictor = model.path, predictor.engine, predictor
    _loaded.wanted = None
    logger.info(
        "loaded model %s on %s",
        predictor.version,
        predictor.engine.key,
        extra={
            "model_version": predictor.version,
            "model_dir": str(model.path),
            "engine": predictor.engine.key,
        },
    )


class _Stale(Exception):
    """The active model cannot be had now; what is loaded keeps serving."""

    def __init__(self, *, version: str | None, reason: str) -> None:
        super().__init__(reason)
        self.version, self.reason = version, reason


def _active_model() -> ModelDir | None:
    """The active model directory (fetched from the S3 model store when that is on); None
    when no model is active. Raises `_Stale` when the store or the database fails."""
    if not model_store.enabled():
        model_dir = active_model_dir()
        return None if model_dir is None else ModelDir.open(path=model_dir)
    try:
        version = model_store.active_version()
    except DatabaseError as error:
        raise _Stale(version=None, reason=f"the active version cannot be read: {error}") from error
    if version is None:
        return None
    try:
        return model_store.fetch(version=version, models_root=Path(settings.MODELS_DIR))
    except model_store.ModelStoreError as error:
        raise _Stale(version=version, reason=str(error)) from error


def _mark_stale(*, version: str | None, reason: str) -> None:
    """Keep serving the loaded model; say why once per reason (not at every recheck)."""
    served = _loaded.predictor.version if _loaded.predictor else None
    if version is None or version == served:
        return  # the database is down: nothing is known to be newer than what is served
    changed = _loaded.wanted != version or _loaded.stale_reason != reason
    _loaded.wanted, _loaded.stale_reason = version, reason
    if changed:
        logger.warning(
            "model %s is active but cannot be served yet, serving %s: %s",
            version,
            served or "no model",
            reason,
            extra={"model_version": served, "active_version": version},
        )


def _engine_for(model: ModelDir) -> Engine:
    """The configured engine, or with `auto` the fastest that passed its check here; a check of
    the engines not yet checked is started in the background. An engine that failed to load
    here is not tried again for that model (LiteRT serves it)."""
    store = AgreementStore.default()
    choice = choose_engine(
        store=store, model_version=model.version, requested=settings.MODEL_RUNTIME
    )
    if choice.unchecked and model.version not in _loaded.checks_started:
        _loaded.checks_started.add(model.version)
        _start_check(model=model, store=store)
    if (model.version, choice.engine) in _loaded.failed:
        return REFERENCE
    return choice.engine


def _start_check(*, model: ModelDir, store: AgreementStore) -> None:
    """`python -m ml check_runtimes` for the model, in its own session (a recycled worker does
    not stop it); a thread reaps it when it ends. Its summary is not a JSON log line, so only
    its errors reach the worker's output (stderr)."""
    command = [sys.executable, "-m", "ml", "check_runtimes", "-v", "0"]
    command += ["--model", str(model.path), "--store", str(store.root)]
    try:
        process = subprocess.Popen(
            command,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            start_new_session=True,
        )
    except OSError:
        logger.exception("cannot start the runtime check", extra={"model_dir": str(model.path)})
        return
    logger.info(
        "checking runtimes for model %s (pid %s)",
        model.version,
        process.pid,
        extra={"model_version": model.version},
    )
    threading.Thread(target=process.wait, daemon=True).start()


def _load_predictor(model: ModelDir, engine: Engine) -> Predictor | None:
    from ml.predict import Predictor

    try:
        return Predictor.load(model.path, engine=engine)
    except Exception:
        logger.exception(
            "cannot load the active model on %s",
            engine.key,
            extra={"model_dir": str(model.path), "engine": engine.key},
        )
        return None


def reset_predictor() -> None:
    """Forget the loaded model (tests switch models between cases)."""
    with _lock:
        _loaded.model_dir, _loaded.engine, _loaded.predictor = None, None, None
        _loaded.checked_at = float("-inf")
        _loaded.wanted, _loaded.stale_reason = None, ""
        _loaded.checks_started.clear()
        _loaded.failed.clear()


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
