"""Evaluation of a model directory on a data set split: metrics from prediction arrays (pure),
and the run that produces those arrays with the serving `Predictor` (LiteRT) and writes a report.

Species are matched by name (through a name map for another data set's names): photos of
species the model does not know are left out of the metrics and judged as unknown birds
(`ml.open_set`: how often the model still answers a species).
Macro F1 averages over the species present in the split (a 525-species model evaluated on a
100-species split is not penalised for the 425 absent ones); weighted F1 weights by support.
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ml import console
from ml.constants import Verdict
from ml.data import IMAGE_SUFFIXES, DatasetError, read_dataset
from ml.images import ImageRejected
from ml.metrics import (
    METRIC_KEYS,
    classification_metrics,
    confused_pairs,
    per_species,
    verdict_metrics,
)
from ml.model_dir import DATA_FILE, ModelDir, ModelDirError
from ml.open_set import open_set_figures, trade_off
from ml.predict import Predictor
from ml.runtimes import REFERENCE, Engine, RuntimeUnavailable
from ml.sources import trained_on_split


class EvaluationError(ValueError):
    """Input that cannot be evaluated (no photos, no species in common, missing split)."""


# What `evaluate` raises for input it cannot judge (the commands answer each with its message).
BAD_INPUT = (EvaluationError, DatasetError, ModelDirError, RuntimeUnavailable, FileNotFoundError)


@dataclass
class Predictions:
    """What the model said about each evaluated photo; indices are the model's label indices."""

    paths: list[Path]
    y_true: np.ndarray  # int [n]
    top_k: np.ndarray  # int [n, k], best first
    confidence: np.ndarray  # float [n]: probability of the top suggestion
    verdicts: list[str]
    latency_ms: np.ndarray  # float [n]

    @property
    def y_pred(self) -> np.ndarray:
        return self.top_k[:, 0]


@dataclass
class Evaluation:
    """Metrics (the `metrics.json` keys), per-species rows and what was left out."""

    metrics: dict[str, float | None]
    names: list[str]  # the model's species by label index
    per_species: list[dict]
    confused_pairs: list[dict]
    unknown_species: dict[str, int]
    skipped: list[tuple[str, str]] = field(default_factory=list)
    n_photos: int = 0
    n_negatives: int = 0
    seconds: float = 0.0
    open_set: dict | None = None  # `ml.open_set` figures and trade-off, with unknown photos


def summarise(
    predictions: Predictions, names: Sequence[str]
) -> tuple[dict, list[dict], list[dict]]:
    """All metrics of one prediction run (without the negatives share), per species, confusions."""
    correct = predictions.y_pred == predictions.y_true
    metrics = {
        **classification_metrics(
            predictions.y_true, predictions.top_k, confidence=predictions.confidence
        ),
        **verdict_metrics(predictions.verdicts, correct),
        "negatives_rejected": None,
    }
    return (
        metrics,
        per_species(predictions.y_true, predictions.y_pred, names=names),
        confused_pairs(predictions.y_true, predictions.y_pred, names=names),
    )


# --- running the model -------------------------------------------------------------------------


def model_label_names(model_dir: Path) -> list[str]:
    """Species names by label index (ModelDirError for a folder that is not a model directory)."""
    return ModelDir.open(path=model_dir).species


def split_photos(
    data: Path, *, split: str, names: Sequence[str], name_map: dict[str, str] | None = None
) -> tuple[list[tuple[Path, int]], dict[str, list[Path]]]:
    """(photo, model label index) of a split's photos of species the model knows (by their
    name through `name_map`), and the photos of each species it does not know."""
    dataset = read_dataset(data)
    samples = dataset.samples(split)
    if not samples:
        available = ", ".join(sorted(dataset.splits)) or "none"
        raise EvaluationError(f"{data} has no photos in split {split!r} (splits: {available}).")
    index = {name: i for i, name in enumerate(names)}
    name_map = name_map or {}
    known, unknown = [], {}
    for s in samples:
        label = index.get(name_map.get(s.species, s.species))
        if label is None:
            unknown.setdefault(s.species, []).append(s.path)
        else:
            known.append((s.path, label))
    if not known:
        raise EvaluationError(
            f"None of the {len(unknown)} species of {data}/{split} is known to the model "
            f"(e.g. {', '.join(sorted(unknown)[:3])})."
        )
    return known, unknown


def refuse_trained_photos(model_dir: Path, data: Path, *, split: str) -> None:
    """Figures on photos a model trained on are not figures: raise EvaluationError for them."""
    if trained_on_split(ModelDir.open(path=model_dir).data_info, data, split=split):
        raise EvaluationError(
            f"Model {Path(model_dir).name} was trained on the photos of {data}/{split} (its "
            f"{DATA_FILE} lists the folder): judge a model trained with --hold-out {data}/{split}."
        )


def negative_photos(folder: Path) -> list[Path]:
    """Every image file under a folder of non-bird photos."""
    folder = Path(folder)
    if not folder.is_dir():
        raise EvaluationError(f"Negatives folder not found: {folder}")
    paths = sorted(
        p for p in folder.rglob("*") if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES
    )
    if not paths:
        raise EvaluationError(f"No photos in the negatives folder {folder}")
    return paths


def run_predictor(
    predictor,
    photos: Iterable[tuple[Path, int]],
    *,
    k: int = 5,
    progress: bool = True,
    desc: str = "evaluate",
) -> tuple[Predictions, list[tuple[str, str]]]:
    """Predict every photo with the serving Predictor; unreadable photos are skipped and listed."""
    photos = list(photos)
    kept, top, conf, verdicts, latency, skipped = [], [], [], [], [], []
    for path, label in console.progress(photos, desc=desc, unit="img", disable=not progress):
        try:
            result = predictor.predict(path, k=k)
        except (ImageRejected, OSError) as exc:
            skipped.append((str(path), str(exc)))
            continue
        indices = [s.index for s in result.suggestions]
        top.append(indices + [-1] * (k - len(indices)))
        conf.append(result.suggestions[0].probability if result.suggestions else 0.0)
        verdicts.append(result.verdict)
        latency.append(result.latency_ms)
        kept.append((path, label))
    return (
        Predictions(
            paths=[p for p, _ in kept],
            y_true=np.array([label for _, label in kept], dtype=np.int64),
            top_k=np.array(top, dtype=np.int64).reshape(len(kept), k),
            confidence=np.array(conf, dtype=np.float64),
            verdicts=verdicts,
            latency_ms=np.array(latency, dtype=np.float64),
        ),
        skipped,
    )


def evaluate(
    model_dir: str | os.PathLike,
    data: str | os.PathLike,
    *,
    split: str = "valid",
    negatives: str | os.PathLike | None = None,
    progress: bool = True,
    name_map: dict[str, str] | None = None,
    engine: Engine = REFERENCE,
) -> tuple[Evaluation, Predictions]:
    """Run the model directory's Predictor on `engine` over a split (and the negatives) and
    compute the metrics (`ml.report.write_evaluation` writes them as a report folder)."""
    started = time.perf_counter()
    model_dir = Path(model_dir)
    names = model_label_names(model_dir)
    refuse_trained_photos(model_dir, Path(data), split=split)
    photos, unknown = split_photos(Path(data), split=split, names=names, name_map=name_map)
    negative_paths = negative_photos(Path(negatives)) if negatives is not None else []
    predictor = Predictor.load(model_dir, engine=engine)
    predictions, skipped = run_predictor(predictor, photos, progress=progress, desc=split)
    if not len(predictions.y_true):
        raise EvaluationError("No photo of the split could be read.")
    metrics, species_rows, pairs = summarise(predictions, names)
    n_negatives = 0
    if negative_paths:
        negs, neg_skipped = run_predictor(
            predictor, [(p, -1) for p in negative_paths], progress=progress, desc="negatives"
        )
        skipped += neg_skipped
        n_negatives = len(negs.verdicts)
        metrics["negatives_rejected"] = (
            float(np.mean([v == Verdict.NO_BIRD for v in negs.verdicts])) if n_negatives else None
        )
    open_set = None
    if unknown:
        strangers, unknown_skipped = run_predictor(
            predictor,
            [(p, -1) for paths in unknown.values() for p in paths],
            progress=progress,
            desc="unknown species",
        )
        skipped += unknown_skipped
        open_set = open_set_report(predictions, strangers, calibration=predictor.calibration)
    evaluation = Evaluation(
        metrics={key: metrics[key] for key in METRIC_KEYS},
        names=list(names),
        per_species=species_rows,
        confused_pairs=pairs,
        unknown_species={name: len(paths) for name, paths in sorted(unknown.items())},
        skipped=skipped,
        n_photos=len(predictions.y_true),
        n_negatives=n_negatives,
        seconds=time.perf_counter() - started,
        open_set=open_set,
    )
    return evaluation, predictions


def open_set_report(known: Predictions, unknown: Predictions, *, calibration: dict) -> dict:
    """`ml.open_set` figures of the served verdicts, and the trade-off curve, for catalogue
    photos against photos of species the model does not know."""
    correct = known.y_pred == known.y_true
    return {
        **open_set_figures(
            known_correct=correct, known_verdicts=known.verdicts, unknown_verdicts=unknown.verdicts
        ),
        "served_threshold": calibration["uncertain_threshold"],
        "trade_off": trade_off(
            known_confidence=known.confidence,
            known_correct=correct,
            unknown_confidence=unknown.confidence,
        ),
    }
