"""The agreement check: may this host serve a model on a faster engine than LiteRT fp32?

An engine passes when the FULL predictor (the bird finder and its second pass included) on
fixed real photos, full-size `field/valid` photos among them, gives the same top-1 species and
the same verdict as LiteRT fp32 on at least `MIN_AGREEMENT` of them, and every species
probability of every photo within `TOLERANCE`. It runs in a separate process
(`python -m ml check_runtimes`), and its results are kept outside the content-hashed model
directories, keyed by model version, engine, runtime version and CPU (`AgreementStore`): hosts
behind one load balancer can differ, and a runtime upgrade is checked again.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import fcntl
import hashlib
import json
import os
import time
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path

from ml.atomic import write_json
from ml.config import data_dir, shared_data_dir
from ml.cpu import cpu_key
from ml.data import IMAGE_SUFFIXES
from ml.model_dir import ModelDir
from ml.runtimes import AUTO, REFERENCE, Engine, candidate_engines, runtime_version
from ml.runtimes import requested as requested_by_env

CHECK_PHOTOS_ENV = "BIRDSITE_CHECK_PHOTOS"
# Photos per kind, spread evenly over the sorted files (fixed, so every host judges the same).
FIELD_PHOTOS = 100
CROP_PHOTOS = 100
MIN_AGREEMENT = 0.99
# Set from measurement (`check_runtimes` on the 200 photos, the default model, 2026-12-03):
# OpenVINO fp32 against LiteRT fp32 moved no probability by more than 0.0019 (two fp32 kernels
# summing in different orders, amplified by the softmax and the blend of two passes); OpenVINO
# bf16 moved some by 0.33 and changed 3.5% of the answers. 0.01 is five times the fp32 spread,
# and less than a shown percentage point.
TOLERANCE = 0.01


class CheckPhotosMissing(FileNotFoundError):
    """The photo folder lacks the check's photos: nothing can be checked here."""


def check_photos(*, root: Path | None = None) -> list[Path]:
    """The fixed photo set: FIELD_PHOTOS full-size `field/valid` photos and CROP_PHOTOS
    `birds525/valid` crops from `root` (env BIRDSITE_CHECK_PHOTOS, else the shared data)."""
    root = Path(root or os.environ.get(CHECK_PHOTOS_ENV) or shared_data_dir())
    chosen = []
    for folder, count in (
        (root / "field" / "valid", FIELD_PHOTOS),
        (root / "birds525" / "valid", CROP_PHOTOS),
    ):
        photos = sorted(p for p in folder.rglob("*") if p.suffix.lower() in IMAGE_SUFFIXES)
        if not photos:
            raise CheckPhotosMissing(f"no photos in {folder} (set {CHECK_PHOTOS_ENV})")
        step = max(1, len(photos) // count)
        chosen += photos[::step][:count]
    return chosen


def photos_fingerprint(photos: list[Path]) -> str:
    digest = hashlib.sha256()
    for photo in photos:
        digest.update(hashlib.sha256(photo.read_bytes()).digest())
    return digest.hexdigest()[:16]


@dataclass
class AgreementResult:
    engine: str  # Engine.key
    runtime_version: str | None
    model_version: str
    cpu_key: str
    passed: bool
    photos: int = 0
    photos_fingerprint: str = ""
    agreement: float = 0.0  # share of photos with the same top-1 AND verdict
    top1_agreement: float = 0.0
    verdict_agreement: float = 0.0
    max_probability_diff: float = 0.0
    tolerance: float = TOLERANCE
    ms_per_photo: float = 0.0  # one thread, finder included, timed interleaved with LiteRT
    reference_ms_per_photo: float = 0.0
    error: str | None = None  # why the engine could not run (then passed is False)
    checked_at: str = field(default_factory=lambda: dt.datetime.now(dt.UTC).isoformat())

    @property
    def parsed_engine(self) -> Engine:
        return Engine.parse(self.engine)

    def to_json(self) -> dict:
        return asdict(self)

    @classmethod
    def from_json(cls, value: dict) -> AgreementResult:
        return cls(**value)


def check_engine(
    *,
    model_dir: Path,
    engine: Engine,
    photos: list[Path],
    on_photo: Callable[[], None] = lambda: None,
) -> AgreementResult:
    """Judge `engine` against LiteRT fp32 on `photos` (one thread each, interleaved per photo).
    An engine that cannot load or run gives a failed result naming why, not an exception."""
    from ml.predict import Predictor

    model = ModelDir.open(path=model_dir)
    result = AgreementResult(
        engine=engine.key,
        runtime_version=runtime_version(engine.runtime),
        model_version=model.version,
        cpu_key=cpu_key(),
        passed=False,
        photos=len(photos),
        photos_fingerprint=photos_fingerprint(photos),
    )
    reference = Predictor.load(model.path, num_threads=1)
    try:
        candidate = Predictor.load(model.path, num_threads=1, engine=engine)
        candidate.predict(photos[0])  # warm-up, outside the timing
    except Exception as error:  # any runtime's own failure: the engine is not usable here
        result.error = f"{type(error).__name__}: {error}"
        return result
    reference.predict(photos[0])
    same_top1 = same_verdict = same_both = 0
    seconds = {"reference": 0.0, "candidate": 0.0}
    for photo in photos:
        answers = {}
        for name, predictor in (("reference", reference), ("candidate", candidate)):
            started = time.perf_counter()
            answers[name] = predictor.predict(photo, k=len(predictor.labels))
            seconds[name] += time.perf_counter() - started
        ours, theirs = answers["reference"], answers["candidate"]
        top1 = ours.suggestions[0].index == theirs.suggestions[0].index
        verdict = ours.verdict == theirs.verdict
        same_top1, same_verdict, same_both = (
            same_top1 + top1,
            same_verdict + verdict,
            same_both + (top1 and verdict),
        )
        by_index = {s.index: s.probability for s in theirs.suggestions}
        diff = max(abs(s.probability - by_index[s.index]) for s in ours.suggestions)
        result.max_probability_diff = max(result.max_probability_diff, diff)
        on_photo()
    count = len(photos)
    result.top1_agreement = round(same_top1 / count, 4)
    result.verdict_agreement = round(same_verdict / count, 4)
    result.agreement = round(same_both / count, 4)
    result.max_probability_diff = round(result.max_probability_diff, 6)
    result.ms_per_photo = round(seconds["candidate"] / count * 1000, 2)
    result.reference_ms_per_photo = round(seconds["reference"] / count * 1000, 2)
    result.passed = result.agreement >= MIN_AGREEMENT and result.max_probability_diff <= TOLERANCE
    return result


class AgreementStore:
    """Results on disk: `<root>/<model version>/<engine>/<runtime version>/<cpu key>.json`."""

    def __init__(self, root: Path) -> None:
        self.root = Path(root)

    @classmethod
    def default(cls) -> AgreementStore:
        return cls(data_dir() / "runtime-checks")

    def path_for(self, *, model_version: str, engine: Engine) -> Path:
        version = runtime_version(engine.runtime) or "not-installed"
        return self.root / model_version / engine.key / version / f"{cpu_key()}.json"

    def result_for(self, *, model_version: str, engine: Engine) -> AgreementResult | None:
        """This host's result for the engine's installed version, None when not checked."""
        path = self.path_for(model_version=model_version, engine=engine)
        try:
            return AgreementResult.from_json(json.loads(path.read_text()))
        except (FileNotFoundError, ValueError, TypeError):
            return None

    def save(self, result: AgreementResult) -> Path:
        path = self.path_for(model_version=result.model_version, engine=result.parsed_engine)
        path.parent.mkdir(parents=True, exist_ok=True)
        write_json(path=path, value=result.to_json())
        return path

    @contextlib.contextmanager
    def lock(self, *, model_version: str) -> Iterator[None]:
        """One check of a model at a time on this host (the others wait, then find it done)."""
        folder = self.root / model_version
        folder.mkdir(parents=True, exist_ok=True)
        with open(folder / ".lock", "w") as handle:
            fcntl.flock(handle, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(handle, fcntl.LOCK_UN)


def passed_engines(*, store: AgreementStore, model_version: str) -> list[Engine]:
    """LiteRT (the reference) and every engine whose check passed for the model on this host."""
    return [REFERENCE] + [
        engine
        for engine in candidate_engines()
        if engine != REFERENCE
        and (result := store.result_for(model_version=model_version, engine=engine)) is not None
        and result.passed
    ]


@dataclass(frozen=True)
class Choice:
    engine: Engine
    reason: str
    unchecked: list[Engine]  # candidates without a result here: the caller starts a check


def choose_engine(
    *, store: AgreementStore, model_version: str, requested: str | None = None
) -> Choice:
    """The engine to serve `model_version` on: the one asked for, or with `auto` the fastest
    engine whose check passed on this host (LiteRT when none has)."""
    asked = requested or requested_by_env()
    if asked != AUTO:
        return Choice(Engine.parse(asked), f"{asked} asked for", [])
    results, unchecked = [], []
    for engine in candidate_engines():
        if engine == REFERENCE:
            continue
        result = store.result_for(model_version=model_version, engine=engine)
        if result is None:
            unchecked.append(engine)
        elif result.passed:
            results.append(result)
    if not results:
        reason = "not checked yet" if unchecked else "no faster engine agreed with LiteRT"
        return Choice(REFERENCE, reason, unchecked)
    best = min(results, key=lambda r: r.ms_per_photo)
    reference_ms = best.reference_ms_per_photo
    if reference_ms and reference_ms <= best.ms_per_photo:
        return Choice(REFERENCE, "LiteRT is the fastest engine that agrees", unchecked)
    return Choice(best.parsed_engine, f"fastest that agreed ({best.ms_per_photo} ms)", unchecked)
