"""The bird finder: boxes from the bird map, the crop policy in the feature cache, and the same
crop in training and serving, on real field photos."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from ml.config import shared_data_dir
from ml.data import read_boxes
from ml.features import extract
from ml.finder import (
    Box,
    Finder,
    FinderParams,
    blend_probabilities,
    fit_box_regressor,
    square_around,
    tight_box,
)
from ml.images import load_photo, view_pixels
from tests.ml.test_data import PixelMeans

FIELD = shared_data_dir() / "field"


def peak_map(row: int, col: int) -> np.ndarray:
    bird_map = np.zeros((7, 7))
    bird_map[row, col] = 10.0
    return bird_map


def test_tight_box_surrounds_the_peak_in_photo_pixels() -> None:
    box = tight_box(peak_map(1, 5), width=700, height=350, params=FinderParams(threshold=0.5))
    assert 500 <= box.x + box.width / 2 <= 600  # column 5 of 7 -> x 500..600 of 700
    assert 50 - 1 <= box.y + box.height / 2 <= 100 + 1  # row 1 of 7 -> y 50..100 of 350
    assert box.width < 700 / 3 and box.height < 350 / 3
    whole = tight_box(np.ones((7, 7)), width=700, height=350, params=FinderParams())
    assert whole == Box(0.0, 0.0, 700.0, 350.0)  # a flat map says nothing


def test_square_stays_inside_the_photo_and_keeps_a_minimum_side() -> None:
    square = square_around(Box(480, 0, 40, 60), width=500, height=375, margin=0.5)
    assert square.width == square.height == 90
    assert square.x + square.width <= 500 and square.y == 0
    assert square_around(Box(10, 10, 2, 2), width=500, height=375, margin=0.0).width == 16
    assert square_around(Box(0, 0, 500, 375), width=500, height=375, margin=0.3).width == 375


def test_plan_crops_only_small_birds_and_blend_is_a_distribution() -> None:
    finder = Finder(FinderParams(threshold=0.5, margin=0.1, crop_below=0.8))
    small = finder.plan(peak_map(3, 3), np.zeros(1280), width=500, height=375)
    assert small.crop is not None and small.crop.width < 0.8 * 375
    assert small.weight == 1.0  # well below the bound: the crop alone
    large = finder.plan(np.ones((7, 7)), np.zeros(1280), width=500, height=375)
    assert large.crop is None and large.weight == 0.0
    full, crop = np.array([0.7, 0.2, 0.1]), np.array([0.1, 0.8, 0.1])
    mixed = blend_probabilities(full, crop, crop_weight=0.5)
    assert np.isclose(mixed.sum(), 1.0) and mixed.argmax() == 1
    assert np.allclose(blend_probabilities(full, crop, crop_weight=1.0), crop)


def test_the_crop_weight_fades_to_nothing_at_the_bound() -> None:
    params = FinderParams(crop_below=0.7, crop_weight=0.8, crop_ramp=0.1)
    shares = np.linspace(0.0, 1.0, 201)
    weights = np.array([params.weight_for(x) for x in shares])
    assert np.allclose(weights[shares <= 0.6 - 1e-9], 0.8)
    assert (weights[shares >= 0.7] == 0).all()
    assert np.abs(np.diff(weights)).max() <= 0.8 * 0.005 / 0.1 + 1e-9  # no jump anywhere
    assert FinderParams(crop_ramp=0).weight_for(0.69) == 1.0
    with pytest.raises(ValueError, match="crop_ramp"):
        FinderParams(crop_below=0.5, crop_ramp=0.6)


def test_finder_files_round_trip_and_the_policy_id_follows_every_parameter(tmp_path) -> None:
    rng = np.random.default_rng(0)
    regressor = fit_box_regressor(rng.normal(size=(40, 6)), rng.normal(size=(40, 4)), alpha=1.0)
    finder = Finder(FinderParams(margin=0.2), regressor)
    finder.save(tmp_path)
    loaded = Finder.load(tmp_path)
    assert loaded.params == finder.params and loaded.policy_id == finder.policy_id
    assert np.allclose(loaded.regressor.coef, regressor.coef)
    assert Finder.load(tmp_path / "missing") is None
    ids = {
        Finder().policy_id,
        Finder(FinderParams(margin=0.2)).policy_id,
        Finder(FinderParams(crop_below=0.5)).policy_id,
        finder.policy_id,
    }
    assert len(ids) == 4
    # the blend does not change the cached views, so it does not change the key
    assert Finder(FinderParams(crop_weight=0.3, crop_ramp=0.2)).policy_id == Finder().policy_id
    with pytest.raises(ValueError, match="unknown finder parameters"):
        (tmp_path / "finder.json").write_text('{"margn": 0.1}')
        Finder.load(tmp_path)


def field_sample(n: int) -> list[tuple[Path, Box]]:
    boxes = read_boxes(FIELD)
    paths = sorted(p for p in boxes if p.parent.parent.name == "valid")
    return [(p, boxes[p]) for p in paths[:: max(1, len(paths) // n)][:n]]


class PeakedMeans(PixelMeans):
    """The cache tests' stand-in backbone, with a bird map that peaks in the middle."""

    id = "test-peaked-means"

    def __call__(self, pixels: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        pooled, bird, _ = super().__call__(pixels)
        return pooled, bird, np.repeat(peak_map(3, 3)[None], len(pixels), axis=0)


def test_the_cache_key_changes_with_the_crop_policy(tmp_path) -> None:
    photos = [p for p, _ in field_sample(4)]
    backbone = PeakedMeans()
    cache = tmp_path / "cache"
    a = Finder(FinderParams(threshold=0.5, crop_below=1.0))
    b = Finder(FinderParams(threshold=0.5, crop_below=1.0, margin=0.6))
    first = extract(photos, views=1, extractor=backbone, cache_dir=cache, progress=False, finder=a)
    calls = backbone.calls
    assert calls == 2 * len(photos)  # the full view, then the crop around the map's peak
    assert (
        extract(
            photos, views=1, extractor=backbone, cache_dir=cache, progress=False, finder=a
        ).extracted
        == 0
    )
    other = extract(photos, views=1, extractor=backbone, cache_dir=cache, progress=False, finder=b)
    assert other.extracted == len(photos)  # new crops; the full views came from the cache
    assert {p.name for p in (cache / backbone.id).iterdir()} == {
        "full",
        a.policy_id,
        b.policy_id,
    }
    assert first.bird_map.shape == (len(photos), 7, 7)


@pytest.mark.slow
def test_the_fitted_finder_finds_most_birds_on_real_field_photos(field_finder) -> None:
    from ml.features import default_extractor

    extractor = default_extractor()
    hits = []
    for path, truth in field_sample(20):
        photo = load_photo(path)
        pooled, _, bird_map = extractor(view_pixels(photo.image)[None])
        width, height = photo.image.size
        found = field_finder.locate(bird_map[0], pooled[0], width=width, height=height)
        hits.append(found.iou(truth) >= 0.5)
    assert sum(hits) >= 12, hits


@pytest.mark.slow
def test_training_and_serving_crop_the_same_square(field_finder, tmp_path) -> None:
    """The cached training view under the finder's policy is the Predictor's second pass."""
    from ml.features import default_extractor

    extractor = default_extractor()
    photos = [p for p, _ in field_sample(6)]
    cached = extract(
        photos,
        views=1,
        extractor=extractor,
        cache_dir=tmp_path,
        progress=False,
        finder=field_finder,
    )
    cropped = 0
    for row, path in enumerate(photos):
        photo = load_photo(path)
        pooled, _, bird_map = extractor(view_pixels(photo.image)[None])
        width, height = photo.image.size
        plan = field_finder.plan(bird_map[0], pooled[0], width=width, height=height)
        region = None if plan.crop is None else plan.crop.as_tuple()
        served = extractor(view_pixels(photo.image, box=region)[None])[0][0]
        assert np.allclose(cached.pooled[row, 0], served, atol=0.05)
        cropped += plan.crop is not None
    assert cropped >= 1


@pytest.mark.slow
def test_the_predictor_says_which_box_it_used(small_model_dir) -> None:
    from ml.predict import Predictor

    predictor = Predictor.load(small_model_dir)
    assert predictor.finder is not None and predictor.finder.regressor is not None
    sources = set()
    for path, truth in field_sample(8):
        result = predictor.predict(path)
        width, height = load_photo(path).size
        x, y, w, h = result.box
        assert x >= 0 and y >= 0 and x + w <= width + 1 and y + h <= height + 1
        assert result.found_box is not None
        sources.add(result.box_source)
        person = predictor.predict(path, box=truth)
        assert person.box_source == "person"
        px, py, side, _ = person.box
        assert px <= truth.x + truth.width / 2 <= px + side  # a square around the person's box
        assert py <= truth.y + truth.height / 2 <= py + side
    assert "finder" in sources
    single = predictor.predict(field_sample(1)[0][0], use_finder=False)
    assert single.box_source == "full" and single.found_box is None
