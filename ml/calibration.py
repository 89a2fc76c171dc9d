"""Calibration from held-out data: softmax temperature and the two verdict thresholds."""

from __future__ import annotations

import numpy as np

from ml.constants import Verdict
from ml.imagenet import softmax


def verdict_of(*, bird_mass: float, top_probability: float, calibration: dict) -> Verdict:
    """The answer a photo gets: no bird below the bird-mass threshold, else "not sure" below
    the confidence threshold, else the species (the one rule serving and training share)."""
    if bird_mass < calibration["no_bird_threshold"]:
        return Verdict.NO_BIRD
    if top_probability < calibration["uncertain_threshold"]:
        return Verdict.UNCERTAIN
    return Verdict.BIRD


def nll(logits: np.ndarray, labels: np.ndarray, *, temperature: float) -> float:
    probs = softmax(logits / temperature)
    return float(-np.log(probs[np.arange(len(labels)), labels] + 1e-12).mean())


def fit_temperature(logits: np.ndarray, labels: np.ndarray) -> float:
    """Temperature minimising held-out negative log-likelihood (log grid, then a finer one)."""
    if len(labels) == 0:
        return 1.0
    grid = np.exp(np.linspace(np.log(0.05), np.log(20.0), 61))
    best = min(grid, key=lambda t: nll(logits, labels, temperature=t))
    fine = best * np.exp(np.linspace(-0.1, 0.1, 21))
    return float(min(fine, key=lambda t: nll(logits, labels, temperature=t)))


def no_bird_threshold(
    bird_mass: np.ndarray, *, miss_rate: float = 0.005, cap: float = 0.2, floor: float = 0.02
) -> float:
    """Bird-mass threshold under which a photo is called "no bird".

    Chosen low enough to miss at most `miss_rate` of the training bird photos, and never above
    `cap` (non-bird photos measured with the Lite0 backbone have bird mass far below it).
    """
    if len(bird_mass) == 0:
        return floor
    return float(np.clip(np.quantile(bird_mass, miss_rate), floor, cap))


def uncertain_threshold(
    top_probability: np.ndarray,
    correct: np.ndarray,
    *,
    precision: float = 0.9,
    low: float = 0.05,
    high: float = 0.5,
) -> float:
    """Smallest top-probability threshold whose accepted held-out answers reach `precision`."""
    if len(correct) == 0:
        return low
    for threshold in np.linspace(low, high, 46):
        accepted = top_probability >= threshold
        if accepted.any() and correct[accepted].mean() >= precision:
            return float(threshold)
    return float(high)


def open_set_threshold(unknown_top_probability: np.ndarray, answered: float = 0.15) -> float:
    """Top-probability threshold under which at most `answered` of the photos of birds outside
    the catalogue get a species answer ("bird"); the rest are "not sure". 0.15 leaves room
    under the 20 % aimed at, for photos unlike the ones that chose it."""
    if len(unknown_top_probability) == 0:
        return 0.0
    return float(np.quantile(unknown_top_probability, 1 - answered))
