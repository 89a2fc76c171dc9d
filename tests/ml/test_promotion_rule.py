"""The promotion rule on hand-made paired results: the exact one-sided McNemar test and the
catalogue guard."""

from __future__ import annotations

import math

import numpy as np
import pytest

from ml.promotion_rule import CONFIDENCE, GUARD_POINTS, Paired, decide, mcnemar_p


def paired(*, both: int = 0, b: int = 0, c: int = 0, neither: int = 0) -> Paired:
    """Photos both models get right, only the candidate (b), only the active model (c), neither."""
    active = np.array([True] * both + [False] * b + [True] * c + [False] * neither)
    candidate = np.array([True] * both + [True] * b + [False] * c + [False] * neither)
    return Paired.of(active, candidate)


def test_paired_counts_the_discordant_photos_and_both_accuracies() -> None:
    figures = paired(both=5, b=3, c=1, neither=1)
    assert (figures.photos, figures.candidate_only, figures.active_only) == (10, 3, 1)
    assert figures.active_accuracy == pytest.approx(0.6)
    assert figures.candidate_accuracy == pytest.approx(0.8)


def test_paired_refuses_results_of_different_photos() -> None:
    with pytest.raises(ValueError, match="one entry per photo"):
        Paired.of(np.ones(3, bool), np.ones(4, bool))


def test_mcnemar_p_is_the_binomial_tail_by_hand() -> None:
    for b, c in [(9, 1), (6, 2), (3, 3), (0, 5), (17, 4)]:
        n = b + c
        by_hand = sum(math.comb(n, k) for k in range(b, n + 1)) / 2**n
        assert mcnemar_p(candidate_only=b, active_only=c) == pytest.approx(by_hand)
    assert mcnemar_p(candidate_only=0, active_only=0) == 1.0


def test_a_clear_win_that_keeps_the_catalogue_is_promoted() -> None:
    decision = decide(held_out=paired(both=50, b=12, c=2, neither=10), catalogue=paired(both=100))
    assert decision.promote
    assert decision.p_value < 1 - CONFIDENCE
    assert [r.split(":")[0] for r in decision.reasons] == [
        "better at 95% confidence",
        "no worse on the catalogue",
    ]


def test_higher_accuracy_without_significance_is_refused() -> None:
    # 6 wins against 3 losses: more right, but p = 0.25
    decision = decide(held_out=paired(both=80, b=6, c=3), catalogue=paired(both=100))
    assert not decision.promote
    assert decision.held_out.candidate_accuracy > decision.held_out.active_accuracy
    (reason,) = decision.reasons
    assert reason.startswith("not better at 95% confidence") and "b = 6" in reason


def test_identical_models_are_refused() -> None:
    decision = decide(held_out=paired(both=30, neither=5), catalogue=paired(both=10))
    assert not decision.promote and decision.p_value == 1.0


def test_a_worse_model_is_refused() -> None:
    decision = decide(held_out=paired(both=10, b=1, c=20), catalogue=paired(both=100, c=30))
    assert not decision.promote
    assert [r.split(":")[0] for r in decision.reasons] == [
        "not better at 95% confidence",
        "worse on the catalogue",
    ]


def test_the_guard_allows_one_point_and_no_more() -> None:
    held_out = paired(both=50, b=12, c=1)
    at_limit = decide(held_out=held_out, catalogue=paired(both=99, c=1))  # -1.0 point
    assert at_limit.promote and GUARD_POINTS == 0.01
    beyond = decide(held_out=held_out, catalogue=paired(both=98, c=2))  # -2.0 points
    assert not beyond.promote
    (reason,) = beyond.reasons
    assert reason.startswith("worse on the catalogue") and "-2.0 points" in reason


def test_no_photos_to_judge_or_guard_with_is_refused() -> None:
    empty = Paired.of(np.zeros(0, bool), np.zeros(0, bool))
    decision = decide(held_out=empty, catalogue=empty)
    assert not decision.promote
    assert decision.reasons == [
        "no held-out photo to judge on",
        "no catalogue check photo to guard with",
    ]


def test_the_decision_is_json_ready() -> None:
    import json

    decision = decide(held_out=paired(both=5, b=9), catalogue=paired(both=4))
    saved = json.loads(json.dumps(decision.to_dict()))
    assert saved["held_out"]["candidate_only"] == 9 and saved["confidence"] == CONFIDENCE
