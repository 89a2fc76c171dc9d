"""The shared constants: one verdict rule, and the Django models' choices are its values."""

from __future__ import annotations

import pytest

from classifier.models import Verdict as VerdictChoice
from ml.calibration import verdict_of
from ml.constants import Verdict

CALIBRATION = {"no_bird_threshold": 0.1, "uncertain_threshold": 0.5}


@pytest.mark.parametrize(
    ("bird_mass", "top_probability", "expected"),
    [
        (0.05, 0.99, Verdict.NO_BIRD),  # no bird wins over a confident species
        (0.5, 0.4, Verdict.UNCERTAIN),
        (0.5, 0.5, Verdict.BIRD),  # the thresholds themselves answer
        (0.1, 0.9, Verdict.BIRD),
    ],
)
def test_verdict_rule(bird_mass: float, top_probability: float, expected: Verdict) -> None:
    got = verdict_of(bird_mass=bird_mass, top_probability=top_probability, calibration=CALIBRATION)
    assert got is expected


def test_the_models_verdict_choices_are_the_ml_verdicts() -> None:
    assert VerdictChoice.values == [v.value for v in Verdict]
