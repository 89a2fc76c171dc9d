"""Honest answers for birds the model does not know: how often a species is answered ("bird"
verdict), and how accurately, for photos of catalogue species and of species outside it.

Pure functions of served predictions (`ml.evaluate.Predictions`), so evaluation and the
benchmark judge the rule that serving applies.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

THRESHOLDS = np.round(np.linspace(0.0, 0.95, 96), 2)


def answered(verdicts: Sequence[str]) -> np.ndarray:
    """Which photos got a species answer (not "not sure", not "no bird")."""
    return np.array([v == "bird" for v in verdicts], bool)


def open_set_figures(
    *, known_correct: np.ndarray, known_verdicts: Sequence[str], unknown_verdicts: Sequence[str]
) -> dict:
    """Shares answered, and the accuracy of the catalogue photos' answers, under the served rule."""
    known = answered(known_verdicts)
    unknown = answered(unknown_verdicts)
    return {
        "catalogue_photos": len(known),
        "catalogue_answered": float(known.mean()) if len(known) else None,
        "accuracy_when_answered": float(known_correct[known].mean()) if known.any() else None,
        "unknown_photos": len(unknown),
        "unknown_answered": float(unknown.mean()) if len(unknown) else None,
    }


def trade_off(
    *,
    known_confidence: np.ndarray,
    known_correct: np.ndarray,
    unknown_confidence: np.ndarray,
    thresholds: np.ndarray = THRESHOLDS,
) -> list[dict]:
    """At each top-probability threshold: the share of catalogue and of unknown-species photos
    answered, and the catalogue answers' accuracy (photos called "no bird" count as answered
    here: the curve is about the species threshold alone)."""
    rows = []
    for threshold in thresholds:
        known = known_confidence >= threshold
        rows.append(
            {
                "threshold": float(threshold),
                "catalogue_answered": float(known.mean()) if len(known) else None,
                "accuracy_when_answered": float(known_correct[known].mean())
                if known.any()
                else None,
                "unknown_answered": float((unknown_confidence >= threshold).mean())
                if len(unknown_confidence)
                else None,
            }
        )
    return rows
