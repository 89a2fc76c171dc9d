"""When a retrained model may replace the active one: a pure rule on paired per-photo results.

Both models answer the same held-out photos, so their results are paired: only the photos on
which they differ say which is better. The exact one-sided McNemar test asks how likely the new
model would win at least `b` of those `b + c` photos if both were equally good (each discordant
photo a fair coin): p = P(X >= b), X ~ Binomial(b + c, 1/2). The new model is promoted when
p < 1 - CONFIDENCE and it is no worse than GUARD_POINTS on the catalogue check photos (the
BIRDS-525 photos neither model trained on), so a gain on field photos is not paid for with the
catalogue.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np
from scipy.stats import binomtest

CONFIDENCE = 0.95  # one-sided: the new model is better with this confidence
GUARD_POINTS = 0.01  # the catalogue check may lose at most one point of top-1


@dataclass(frozen=True)
class Paired:
    """Two models' correctness on the same photos."""

    photos: int
    active_accuracy: float
    candidate_accuracy: float
    candidate_only: int  # b: the candidate right, the active model wrong
    active_only: int  # c: the active model right, the candidate wrong

    @classmethod
    def of(cls, active: np.ndarray, candidate: np.ndarray) -> Paired:
        """From bool arrays, one entry per photo in the same order."""
        active, candidate = np.asarray(active, bool), np.asarray(candidate, bool)
        if active.shape != candidate.shape or active.ndim != 1:
            raise ValueError("paired results need one entry per photo for both models")
        n = len(active)
        return cls(
            photos=n,
            active_accuracy=float(active.mean()) if n else 0.0,
            candidate_accuracy=float(candidate.mean()) if n else 0.0,
            candidate_only=int((candidate & ~active).sum()),
            active_only=int((active & ~candidate).sum()),
        )


@dataclass(frozen=True)
class Decision:
    """Whether to promote, every reason (all that failed when refused), and the figures."""

    promote: bool
    reasons: list[str]
    held_out: Paired
    catalogue: Paired
    p_value: float
    confidence: float = CONFIDENCE
    guard_points: float = GUARD_POINTS

    def to_dict(self) -> dict:
        return asdict(self)


def mcnemar_p(*, candidate_only: int, active_only: int) -> float:
    """Exact one-sided McNemar p-value that the candidate is better: P(X >= b | b + c, 1/2)
    (1.0 when the models never differ)."""
    discordant = candidate_only + active_only
    if discordant == 0:
        return 1.0
    return float(binomtest(candidate_only, discordant, 0.5, alternative="greater").pvalue)


def decide(*, held_out: Paired, catalogue: Paired) -> Decision:
    """The promotion rule: better on the held-out photos by the paired test at CONFIDENCE, and
    no more than GUARD_POINTS worse on the catalogue check photos. The reasons are every check
    when it promotes, the failed ones when it refuses."""
    p = mcnemar_p(candidate_only=held_out.candidate_only, active_only=held_out.active_only)
    alpha = 1 - CONFIDENCE
    test = (
        f"top-1 {held_out.candidate_accuracy:.3f} against {held_out.active_accuracy:.3f} on "
        f"{held_out.photos} held-out photos; right where the active model was wrong on "
        f"b = {held_out.candidate_only}, wrong where it was right on c = {held_out.active_only}: "
        f"one-sided exact McNemar p = {p:.4g}"
    )
    better = held_out.photos > 0 and p < alpha
    change = catalogue.candidate_accuracy - catalogue.active_accuracy
    kept = catalogue.photos > 0 and change >= -GUARD_POINTS - 1e-9
    guard = (
        f"catalogue check top-1 {catalogue.candidate_accuracy:.3f} against "
        f"{catalogue.active_accuracy:.3f} on {catalogue.photos} photos ({change * 100:+.1f} "
        f"points; at most {GUARD_POINTS * 100:g} point may be lost)"
    )
    checks = [
        (
            better,
            f"better at {CONFIDENCE:.0%} confidence: {test} < {alpha:.2f}"
            if better
            else f"not better at {CONFIDENCE:.0%} confidence: {test} >= {alpha:.2f}"
            if held_out.photos
            else "no held-out photo to judge on",
        ),
        (
            kept,
            f"no worse on the catalogue: {guard}"
            if kept
            else f"worse on the catalogue: {guard}"
            if catalogue.photos
            else "no catalogue check photo to guard with",
        ),
    ]
    promote = better and kept
    reasons = [text for ok, text in checks if promote or not ok]
    return Decision(
        promote=promote, reasons=reasons, held_out=held_out, catalogue=catalogue, p_value=p
    )
