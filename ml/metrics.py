"""Pure metrics of predictions: accuracy, top-5, F1, calibration error, verdict shares, the
per-species table and the confusions. Evaluation, training's held-out figures and tuning all
compute their figures here, so a figure means the same wherever it is reported."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from sklearn.metrics import f1_score, precision_recall_fscore_support

from ml.constants import Verdict

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


def expected_calibration_error(
    confidence: np.ndarray, correct: np.ndarray, *, bins: int = 15
) -> float:
    """ECE: support-weighted gap between confidence and accuracy over equal-width bins."""
    return float(
        sum(r["count"] * r["gap"] for r in reliability_table(confidence, correct, bins=bins))
        / max(len(confidence), 1)
    )


def reliability_table(confidence: np.ndarray, correct: np.ndarray, *, bins: int = 15) -> list[dict]:
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


def weighted_f1(y_true: np.ndarray, y_pred: np.ndarray) -> float:
    """F1 of each species present in `y_true`, weighted by its photos (the figure tuning
    optimises and the reports lead with)."""
    present = np.unique(y_true)
    return float(f1_score(y_true, y_pred, labels=present, average="weighted", zero_division=0))


def classification_metrics(
    y_true: np.ndarray, top_k: np.ndarray, *, confidence: np.ndarray
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
        "weighted_f1": weighted_f1(y_true, y_pred),
        "macro_f1": float(
            f1_score(y_true, y_pred, labels=present, average="macro", zero_division=0)
        ),
        "ece": expected_calibration_error(confidence, correct),
    }


def verdict_metrics(verdicts: Sequence[str], correct: np.ndarray) -> dict[str, float | None]:
    """Share answered `no_bird` / `uncertain`, and accuracy on the photos answered `bird`."""
    verdicts = np.asarray(verdicts)
    answered = verdicts == Verdict.BIRD
    n = max(len(verdicts), 1)
    return {
        "no_bird_rate": float((verdicts == Verdict.NO_BIRD).sum() / n),
        "uncertain_rate": float((verdicts == Verdict.UNCERTAIN).sum() / n),
        "answered_accuracy": float(np.asarray(correct)[answered].mean())
        if answered.any()
        else None,
    }


def per_species(y_true: np.ndarray, y_pred: np.ndarray, *, names: Sequence[str]) -> list[dict]:
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
    y_true: np.ndarray, y_pred: np.ndarray, *, names: Sequence[str], n: int = 20
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
    y_true: np.ndarray, y_pred: np.ndarray, *, names: Sequence[str], n: int = 15
) -> tuple[np.ndarray, list[str]]:
    """Confusion matrix restricted to the `n` species with the lowest recall and the species
    they are most often mistaken for (rows: true, columns: predicted)."""
    rows = per_species(y_true, y_pred, names=names)
    index = {name: i for i, name in enumerate(names)}
    chosen: list[int] = [
        index[r["species"]] for r in sorted(rows, key=lambda r: (r["recall"], r["species"]))[:n]
    ]
    for pair in confused_pairs(y_true, y_pred, names=names, n=len(y_true)):
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
