"""Head parameters, ImageNet bird classes and calibration rules (fast: no TensorFlow)."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest

from ml import calibration
from ml.imagenet import BIRD_CLASS_IDS, bird_mass
from ml.model import DEFAULT_PARAMS, FEW_SHOT_OVERRIDES, default_params_for, load_params
from tests.conftest import REPO


def test_params_from_json_and_overrides(tmp_path):
    path = tmp_path / "params.json"
    path.write_text(json.dumps({"dense1": 256, "optimizer": "sgd"}))
    params = load_params(path, epochs=3)
    assert (params.dense1, params.optimizer, params.epochs) == (256, "sgd", 3)
    assert params.dense2 == DEFAULT_PARAMS.dense2
    assert json.loads(json.dumps(params.to_dict()))["dense1"] == 256
    path.write_text(json.dumps({"dens1": 256}))
    with pytest.raises(ValueError, match="Unknown parameters: dens1"):
        load_params(path)
    with pytest.raises(ValueError, match="optimizer must be one of"):
        load_params(optimizer="lbfgs")
    with pytest.raises(ValueError, match="activation must be one of"):
        load_params(activation="tanh")


def test_few_photos_per_species_get_a_more_regularised_head():
    assert default_params_for(25) == DEFAULT_PARAMS
    few_shot = default_params_for(4)
    assert {name: getattr(few_shot, name) for name in FEW_SHOT_OVERRIDES} == FEW_SHOT_OVERRIDES
    assert few_shot.dropout_in > DEFAULT_PARAMS.dropout_in
    assert few_shot.dense1 == DEFAULT_PARAMS.dense1  # only the regularisation differs


def test_parameters_load_without_tensorflow():
    """Web workers read model parameters; that must not drag TensorFlow in."""
    code = "import sys, ml.model; ml.model.load_params(); assert 'tensorflow' not in sys.modules"
    subprocess.run([sys.executable, "-c", code], check=True, cwd=REPO)


def test_bird_classes_and_mass():
    assert len(BIRD_CLASS_IDS) == 59 and {7, 24, 80, 100, 127, 146} <= set(BIRD_CLASS_IDS)
    assert not {6, 25, 79, 101, 126, 147} & set(BIRD_CLASS_IDS)
    logits = np.full((2, 1000), -20.0)
    logits[0, 94] = 20.0  # hummingbird
    logits[1, 817] = 20.0  # sports car
    assert bird_mass(logits) == pytest.approx([1.0, 0.0], abs=1e-6)


def test_temperature_and_thresholds():
    rng = np.random.default_rng(0)
    labels = rng.integers(0, 10, 500)
    logits = rng.normal(size=(500, 10))
    logits[np.arange(500), labels] += 2.0
    sharp = calibration.fit_temperature(logits * 5, labels)
    assert sharp > 2.0  # over-confident logits are softened
    assert calibration.nll(logits * 5, labels, temperature=sharp) < calibration.nll(
        logits * 5, labels, temperature=1.0
    )
    masses = np.linspace(0.3, 1.0, 1000)
    assert calibration.no_bird_threshold(masses) == pytest.approx(0.2)  # capped
    assert calibration.no_bird_threshold(np.linspace(0.0, 1.0, 1001)) == pytest.approx(0.02)
    top = np.linspace(0.0, 1.0, 101)
    assert calibration.uncertain_threshold(top, top >= 0.3, precision=1.0) == pytest.approx(0.3)
    assert calibration.uncertain_threshold(top, top >= 0.3) < 0.3  # 90% precision is enough
