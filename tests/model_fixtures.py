"""Pytest plugin: a small REAL model trained once per session, and a photo it has never seen.

Register with `pytest_plugins = ["tests.model_fixtures"]`. The fixtures import TensorFlow
(training), so only slow tests should request them.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from ml.config import shared_data_dir

BIRDS525 = shared_data_dir() / "birds525"
SMALL_SPECIES = [
    "AMERICAN FLAMINGO",
    "BALD EAGLE",
    "EMPEROR PENGUIN",
    "MALLARD DUCK",
    "NORTHERN CARDINAL",
    "PEACOCK",
    "SNOWY OWL",
    "RUBY THROATED HUMMINGBIRD",
]
SMALL_SEED = 0
SMALL_PARAMS = {"epochs": 40, "patience": 40, "batch_size": 32, "train_views": 2, "tta_views": 2}


@pytest.fixture(scope="session")
def field_finder(tmp_path_factory: pytest.TempPathFactory):
    """The bird finder fitted on the real field/train photos (one backbone pass each)."""
    from ml.finder_fit import fit_finder

    finder, report = fit_finder(
        shared_data_dir() / "field",
        split="train",
        cache_dir=tmp_path_factory.mktemp("features"),
        progress=False,
        crops_root=shared_data_dir() / "cub100",
    )
    assert report["chosen"] != "threshold_only"  # the regressor found more boxes
    return finder


@pytest.fixture(scope="session")
def small_model_dir(tmp_path_factory: pytest.TempPathFactory, field_finder) -> Path:
    """A real 8-species model (4 photos per species train, 1 held out) with the bird finder,
    trained in < ~60 s."""
    if not BIRDS525.is_dir():
        pytest.fail(f"the development photos are missing: {BIRDS525}")
    from ml.model import load_params
    from ml.train import train_model

    out = tmp_path_factory.mktemp("models")
    return train_model(
        BIRDS525,
        out_dir=out,
        params=load_params(**SMALL_PARAMS),
        seed=SMALL_SEED,
        species=SMALL_SPECIES,
        progress=False,
        log=lambda *_: None,
        finder=field_finder,
    )


@pytest.fixture(scope="session")
def held_out_photos() -> list[tuple[Path, str]]:
    """(path, species name) of every photo of the small model's species NOT used to train it."""
    from ml.data import read_dataset
    from ml.train import choose_split

    split = choose_split(read_dataset(BIRDS525, SMALL_SPECIES), seed=SMALL_SEED)
    return [(s.path, s.species) for s in split.held]


@pytest.fixture(scope="session")
def held_out_photo(held_out_photos: list[tuple[Path, str]]) -> tuple[Path, str]:
    """One photo the small model has never seen, and its species name."""
    return held_out_photos[0]
