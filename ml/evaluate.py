"""Evaluation of a model directory on a data set split: metrics from prediction arrays (pure),
and the run that produces those arrays with the serving `Predictor` (LiteRT) and writes a report.

Species are matched by name (through a name map for another data set's names): photos of
species the model does not know are left out of the metrics and judged as unknown birds
(`ml.open_set`: how often the model still answers a species).
Macro F1 averages over the species present in the split (a 525-species model evaluated on a
100-species split is not penalised for the 425 absent ones); weighted F1 weights by support.
"""

from __future__ import annotations

import csv
import json
import os
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from sklearn.metrics import f1_score, precision_recall_fscore_support
from tqdm import tqdm

from ml.data import IMAGE_SUFFIXES, read_dataset
from ml.tune_store import write_atomic, write_json_atomic

METRIC_KEYS = (
    "accuracy",
    "top5_accuracy",
    "weighted_f1",
    "macro_f1",
    "ece",
    "no_bird_rate",
    "uncertain_rate",
    "answered_accuracy",
    "negatives_rejected",
)
VERDICTS = ("bird", "uncertain", "no_bird")


class EvaluationError(ValueError):
    """Input that cannot be evaluated (no photos, no species in common, missing split)."""


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
    per_species: list[dict]
    confused_pairs: list[dict]
    unknown_species: dict[str, int]
    skipped: list[tuple[str, str]] = field(default_factory=list)
    n_photos: int = 0
    n_negatives: int = 0
    seconds: float = 0.0
    open_set: dict | None = None  # `ml.open_set` figures and trade-off, with unknown photos


# --- pure metrics ------------------------------------------------------------------------------


def expected_calibration_error(
    confidence: np.ndarray, correct: np.ndarray, bins: int = 15
) -> float:
    """ECE: support-weighted gap between confidence and accuracy over equal-width bins."""
    return float(
        sum(r["count"] * r["gap"] for r in reliability_table(confidence, correct, bins))
        / max(len(confidence), 1)
    )


def reliability_table(confidence: np.ndarray, correct: np.ndarray, bins: int = 15) -> list[dict]:
    """Per confidence bin: bounds, count, mean confidence, accuracy, their gap (empty bins too)."""
    confidence = np.asarray(confidence, dtype=np.float64)
    correct = np.asarray(correct, dtype=np.float64)
    edges = np.linspace(0.0, 1.0, bins + 1)
    which = np.clip(np.digitize(confidence, edges[1:-1], right=True), 0, bins - 1)
    rows = []
    for b in range(bins):
        mask = which == b
        count = int(mask.sum())
        conf = float(confidence[mask].mean()) if count else 0.0
        acc = float(correct[mask].mean()) if count else 0.0
        rows.append(
            {
                "low": float(edges[b]),
                "high": float(edges[b + 1]),
                "count": count,
                "confidence": conf,
                "accuracy": acc,
                "gap": abs(conf - acc) if count else 0.0,
            }
        )
    return rows


def classification_metrics(
    y_true: np.ndarray, top_k: np.ndarray, confidence: np.ndarray
) -> dict[str, float]:
    """Accuracy, top-5 accuracy, weighted/macro F1 (over present species) and ECE."""
    y_true = np.asarray(y_true)
    top_k = np.asarray(top_k)
    y_pred = top_k[:, 0]
    present = np.unique(y_true)
    correct = y_pred == y_true
    return {
        "accuracy": float(correct.mean()),
        "top5_accuracy": float((top_k[:, :5] == y_true[:, None]).any(axis=1).mean()),
        "weighted_f1": float(
            f1_score(y_true, y_pred, labels=present, average="weighted", zero_division=0)
        ),
        "macro_f1": float(
            f1_score(y_true, y_pred, labels=present, average="macro", zero_division=0)
        ),
        "ece": expected_calibration_error(confidence, correct),
    }


def verdict_metrics(verdicts: Sequence[str], correct: np.ndarray) -> dict[str, float | None]:
    """Share answered `no_bird` / `uncertain`, and accuracy on the photos answered `bird`."""
    verdicts = np.asarray(verdicts)
    answered = verdicts == "bird"
    n = max(len(verdicts), 1)
    return {
        "no_bird_rate": float((verdicts == "no_bird").sum() / n),
        "uncertain_rate": float((verdicts == "uncertain").sum() / n),
        "answered_accuracy": float(np.asarray(correct)[answered].mean())
        if answered.any()
        else None,
    }


def per_species(y_true: np.ndarray, y_pred: np.ndarray, names: Sequence[str]) -> list[dict]:
    """Precision, recall, F1 and support of every species present in `y_true`, worst F1 first."""
    present = np.unique(y_true)
    precision, recall, f1, support = precision_recall_fscore_support(
        y_true, y_pred, labels=present, zero_division=0
    )
    rows = [
        {
            "species": names[i],
            "precision": float(p),
            "recall": float(r),
            "f1": float(f),
            "support": int(s),
        }
        for i, p, r, f, s in zip(present, precision, recall, f1, support, strict=True)
    ]
    return sorted(rows, key=lambda row: (row["f1"], row["species"]))


def confused_pairs(
    y_true: np.ndarray, y_pred: np.ndarray, names: Sequence[str], n: int = 20
) -> list[dict]:
    """The `n` most frequent (true -> predicted) mistakes."""
    pairs: dict[tuple[int, int], int] = {}
    for t, p in zip(y_true.tolist(), y_pred.tolist(), strict=True):
        if t != p:
            pairs[(t, p)] = pairs.get((t, p), 0) + 1
    support = np.bincount(y_true, minlength=len(names))
    ranked = sorted(
        pairs.items(), key=lambda item: (-item[1], names[item[0][0]], names[item[0][1]])
    )
    return [
        {"true": names[t], "predicted": names[p], "count": c, "share_of_true": c / support[t]}
        for (t, p), c in ranked[:n]
    ]


def worst_submatrix(
    y_true: np.ndarray, y_pred: np.ndarray, names: Sequence[str], n: int = 15
) -> tuple[np.ndarray, list[str]]:
    """Confusion matrix restricted to the `n` species with the lowest recall and the species
    they are most often mistaken for (rows: true, columns: predicted)."""
    rows = per_species(y_true, y_pred, names)
    index = {name: i for i, name in enumerate(names)}
    chosen: list[int] = [
        index[r["species"]] for r in sorted(rows, key=lambda r: (r["recall"], r["species"]))[:n]
    ]
    for pair in confused_pairs(y_true, y_pred, names, n=len(y_true)):
        if len(chosen) >= 2 * n:
            break
        for name in (pair["true"], pair["predicted"]):
            if index[name] not in chosen and len(chosen) < 2 * n:
                chosen.append(index[name])
    chosen = chosen[: max(n, 1) * 2]
    # counted here, not by sklearn, which warns about the 1x1 matrix of a one-species split
    position = {label: i for i, label in enumerate(chosen)}
    matrix = np.zeros((len(chosen), len(chosen)), np.int64)
    for true, predicted in zip(y_true, y_pred, strict=True):
        if true in position and predicted in position:
            matrix[position[true], position[predicted]] += 1
    return matrix, [names[i] for i in chosen]


def summarise(
    predictions: Predictions, names: Sequence[str]
) -> tuple[dict, list[dict], list[dict]]:
    """All metrics of one prediction run (without the negatives share), per species, confusions."""
    correct = predictions.y_pred == predictions.y_true
    metrics = {
        **classification_metrics(predictions.y_true, predictions.top_k, predictions.confidence),
        **verdict_metrics(predictions.verdicts, correct),
        "negatives_rejected": None,
    }
    return (
        metrics,
        per_species(predictions.y_true, predictions.y_pred, names),
        confused_pairs(predictions.y_true, predictions.y_pred, names),
    )


# --- running the model -------------------------------------------------------------------------


def model_label_names(model_dir: Path) -> list[str]:
    """Species names by label index, from the model directory's `labels.json`."""
    path = Path(model_dir) / "labels.json"
    if not path.is_file():
        raise EvaluationError(f"{model_dir} is not a model directory (labels.json is missing).")
    return [entry["name"] for entry in json.loads(path.read_text())]


def split_photos(
    data: Path, split: str, names: Sequence[str], name_map: dict[str, str] | None = None
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


def refuse_trained_photos(model_dir: Path, data: Path, split: str) -> None:
    """Figures on photos a model trained on are not figures: raise EvaluationError for them."""
    from ml.sources import trained_on_split

    info = Path(model_dir) / "data.json"
    if info.is_file() and trained_on_split(json.loads(info.read_text()), data, split):
        raise EvaluationError(
            f"Model {Path(model_dir).name} was trained on the photos of {data}/{split} (its "
            f"data.json lists the folder): judge a model trained with --hold-out {data}/{split}."
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
    k: int = 5,
    progress: bool = True,
    desc: str = "evaluate",
) -> tuple[Predictions, list[tuple[str, str]]]:
    """Predict every photo with the serving Predictor; unreadable photos are skipped and listed."""
    from ml.images import ImageRejected

    photos = list(photos)
    kept, top, conf, verdicts, latency, skipped = [], [], [], [], [], []
    for path, label in tqdm(photos, desc=desc, unit="img", disable=not progress):
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
    split: str = "valid",
    negatives: str | os.PathLike | None = None,
    out: str | os.PathLike | None = None,
    progress: bool = True,
    name_map: dict[str, str] | None = None,
) -> tuple[Evaluation, Predictions]:
    """Run the model directory's Predictor over a split (and the negatives), compute the metrics,
    and, with `out`, write the report folder (metrics.json, CSV, PNGs, report.md, and with
    photos of unknown species open_set.json and its plot)."""
    from ml.predict import Predictor

    started = time.perf_counter()
    model_dir = Path(model_dir)
    names = model_label_names(model_dir)
    refuse_trained_photos(model_dir, Path(data), split)
    photos, unknown = split_photos(Path(data), split, names, name_map)
    negative_paths = negative_photos(Path(negatives)) if negatives is not None else []
    predictor = Predictor.load(model_dir)
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
            float(np.mean([v == "no_bird" for v in negs.verdicts])) if n_negatives else None
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
        open_set = open_set_report(predictions, strangers, predictor.calibration)
    evaluation = Evaluation(
        metrics={key: metrics[key] for key in METRIC_KEYS},
        per_species=species_rows,
        confused_pairs=pairs,
        unknown_species={name: len(paths) for name, paths in sorted(unknown.items())},
        skipped=skipped,
        n_photos=len(predictions.y_true),
        n_negatives=n_negatives,
        seconds=time.perf_counter() - started,
        open_set=open_set,
    )
    if out is not None:
        write_report(
            Path(out),
            evaluation,
            predictions,
            names,
            model_dir=model_dir,
            data=Path(data),
            split=split,
        )
    return evaluation, predictions


def open_set_report(known: Predictions, unknown: Predictions, calibration: dict) -> dict:
    """`ml.open_set` figures of the served verdicts, and the trade-off curve, for catalogue
    photos against photos of species the model does not know."""
    from ml import open_set

    correct = known.y_pred == known.y_true
    return {
        **open_set.open_set_figures(correct, known.verdicts, unknown.verdicts),
        "served_threshold": calibration["uncertain_threshold"],
        "trade_off": open_set.trade_off(known.confidence, correct, unknown.confidence),
    }


def write_report(
    out: Path,
    evaluation: Evaluation,
    predictions: Predictions,
    names: Sequence[str],
    model_dir: Path,
    data: Path,
    split: str,
) -> None:
    """metrics.json (exactly METRIC_KEYS), per-species and confusion CSVs, figures, report.md."""
    from ml import report

    out.mkdir(parents=True, exist_ok=True)
    write_atomic(
        out / "per_species.csv",
        _csv(evaluation.per_species, ["species", "precision", "recall", "f1", "support"]),
    )
    write_atomic(
        out / "confused_pairs.csv",
        _csv(evaluation.confused_pairs, ["true", "predicted", "count", "share_of_true"]),
    )
    correct = predictions.y_pred == predictions.y_true
    figures = {
        "confusion": report.plot_confusion(
            *worst_submatrix(predictions.y_true, predictions.y_pred, names),
            out / "confusion_worst.png",
        ),
        "reliability": report.plot_reliability(
            reliability_table(predictions.confidence, correct), out / "reliability.png"
        ),
        "misclassified": report.plot_misclassified(
            [
                (
                    predictions.paths[i],
                    names[predictions.y_true[i]],
                    names[predictions.y_pred[i]],
                    float(predictions.confidence[i]),
                )
                for i in np.flatnonzero(~correct)
            ],
            out / "misclassified.png",
        ),
    }
    if evaluation.open_set is not None:
        figures["open set"] = report.plot_open_set(
            evaluation.open_set["trade_off"],
            evaluation.open_set["served_threshold"],
            out / "open_set.png",
        )
        write_json_atomic(out / "open_set.json", evaluation.open_set)
    write_atomic(
        out / "report.md",
        report.evaluation_markdown(
            evaluation, model_dir=model_dir, data=data, split=split, figures=figures
        ).encode(),
    )
    write_json_atomic(out / "metrics.json", evaluation.metrics)


def _csv(rows: list[dict], columns: list[str]) -> bytes:
    import io

    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=columns, extrasaction="ignore")
    writer.writeheader()
    writer.writerows(rows)
    return buffer.getvalue().encode()


def summary_lines(evaluation: Evaluation) -> list[str]:
    """A short human summary of an evaluation."""
    m = evaluation.metrics

    def pct(value: float | None) -> str:
        return "n/a" if value is None else f"{100 * value:.1f}%"

    lines = [
        f"photos {evaluation.n_photos}  accuracy {pct(m['accuracy'])}  "
        f"top-5 {pct(m['top5_accuracy'])}  "
        f"weighted F1 {m['weighted_f1']:.4f}  macro F1 {m['macro_f1']:.4f}  ECE {m['ece']:.4f}",
        f"verdicts: no_bird {pct(m['no_bird_rate'])}  uncertain {pct(m['uncertain_rate'])}  "
        f"accuracy when answered 'bird' {pct(m['answered_accuracy'])}",
    ]
    if m["negatives_rejected"] is not None:
        lines.append(
            f"negatives: {evaluation.n_negatives} photos, "
            f"{pct(m['negatives_rejected'])} answered no_bird"
        )
    if evaluation.unknown_species:
        n = sum(evaluation.unknown_species.values())
        names = ", ".join(list(evaluation.unknown_species)[:5])
        lines.append(
            f"left out: {n} photos of {len(evaluation.unknown_species)} species the model does not "
            f"know ({names}{', ...' if len(evaluation.unknown_species) > 5 else ''})"
        )
    if evaluation.open_set is not None:
        o = evaluation.open_set
        lines.append(
            f"open set: unknown species answered 'bird' {pct(o['unknown_answered'])}; catalogue "
            f"species answered {pct(o['catalogue_answered'])}, "
            f"{pct(o['accuracy_when_answered'])} of them right"
        )
    if evaluation.skipped:
        lines.append(
            f"skipped {len(evaluation.skipped)} unreadable photos (e.g. {evaluation.skipped[0][0]})"
        )
    return lines
