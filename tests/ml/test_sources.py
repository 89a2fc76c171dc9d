"""Several data folders under catalogue names, the hold-out by content, class weights and the
open-set rule's pure parts, on the real shared photos (no TensorFlow)."""

from __future__ import annotations

import csv
import os
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from ml.calibration import open_set_threshold
from ml.data import read_name_map
from ml.open_set import open_set_figures, trade_off
from ml.sources import gather_sources
from ml.train import class_weights
from tests.ml.photos import BIRDS525, CUB100, FIELD, NAME_MAP

CATALOGUE = ["AMERICAN GOLDFINCH", "ANNAS HUMMINGBIRD", "ABBOTTS BABBLER"]
OUTSIDE = "BLACK AND WHITE WARBLER"  # a cub100 species BIRDS-525 does not have


def linked_copy(source: Path, out: Path, species: list[str], rename: bool = True) -> Path:
    """Hard links of some species' photos of a folder, under other file names (so nothing can
    be matched by name), with the rows of its boxes.csv when it has one."""
    boxes = {}
    if (source / "boxes.csv").is_file():
        with open(source / "boxes.csv", newline="") as handle:
            boxes = {row["filepaths"]: row for row in csv.DictReader(handle)}
    rows = []
    for split in ("train", "valid"):
        for name in species:
            folder = source / split / name
            for i, photo in enumerate(sorted(folder.iterdir())):
                relative = f"{split}/{name}/{'copy' + str(i) if rename else photo.stem}.jpg"
                (out / relative).parent.mkdir(parents=True, exist_ok=True)
                os.link(photo, out / relative)
                original = boxes.get(f"{split}/{name}/{photo.name}")
                if original:
                    rows.append({**original, "filepaths": relative})
    if rows:
        with open(out / "boxes.csv", "w", newline="") as handle:
            writer = csv.DictWriter(handle, ["filepaths", "x", "y", "width", "height"])
            writer.writeheader()
            writer.writerows(rows)
    return out


@pytest.fixture
def cub(tmp_path: Path) -> Path:
    return linked_copy(
        CUB100, tmp_path / "cub", ["AMERICAN GOLDFINCH", "ANNA HUMMINGBIRD", OUTSIDE]
    )


def test_added_folders_train_under_catalogue_names_and_skip_species_outside_it(cub: Path):
    sources = gather_sources(
        BIRDS525, added=[cub], names=read_name_map(NAME_MAP), species=CATALOGUE
    )
    assert sources.catalogue.species == sorted(CATALOGUE)
    names = {s.species for s in sources.added}
    assert names == {"AMERICAN GOLDFINCH", "ANNAS HUMMINGBIRD"}  # renamed through the map
    assert len(sources.added) == 2 * 45  # train and valid, 30 + 15 each
    assert sources.outside == {str(cub.resolve()): [OUTSIDE]}
    # the unknown-species photos that choose the open-set rule: their train split only
    assert {s.split for s in sources.unknown} == {"train"}
    assert {s.species for s in sources.unknown} == {OUTSIDE}
    record = {r["path"]: r for r in sources.record}
    assert record[str(cub.resolve())]["photos"] == 90 and record[str(cub.resolve())]["fingerprint"]
    excluded = gather_sources(
        BIRDS525,
        added=[cub],
        names=read_name_map(NAME_MAP),
        species=CATALOGUE,
        exclude=["ANNAS HUMMINGBIRD"],
    )
    assert {s.species for s in excluded.added} == {"AMERICAN GOLDFINCH"}
    assert {s.species for s in excluded.unknown} == {OUTSIDE}  # excluded is not "unknown"


def field_valid_held_out(tmp_path: Path, cub: Path):
    """A goldfinch field folder and `cub` added to BIRDS-525, with `field/valid` held out."""
    field = linked_copy(FIELD, tmp_path / "field", ["AMERICAN GOLDFINCH"], rename=False)
    sources = gather_sources(
        BIRDS525,
        added=[cub, field],
        names=read_name_map(NAME_MAP),
        hold_out=[field / "valid"],
        species=CATALOGUE,
    )
    return field, sources


def test_hold_out_removes_the_field_photo_and_its_crop_by_content(tmp_path: Path, cub: Path):
    field, sources = field_valid_held_out(tmp_path, cub)
    goldfinch = [s for s in sources.added if s.species == "AMERICAN GOLDFINCH"]
    # cub100/valid holds exactly the crops of field/valid: all 15 go, under other names; the
    # train photos of both folders stay
    assert sorted((s.path.parent.parent.parent.name, s.split) for s in goldfinch) == sorted(
        [("cub", "train")] * 30 + [("field", "train")] * 30
    )
    assert len([s for s in sources.added if s.species == "ANNAS HUMMINGBIRD"]) == 45
    record = {r.get("path"): r for r in sources.record}
    assert record[str(cub.resolve())]["held_out"] == 15
    assert record[str(field.resolve())]["held_out"] == 15


def test_a_model_trained_on_a_split_is_known_to_have_seen_it(tmp_path: Path, cub: Path):
    from ml.sources import trained_on_split

    field, sources = field_valid_held_out(tmp_path, cub)
    info = {"sources": sources.record}
    assert trained_on_split(info, cub, split="valid") and trained_on_split(
        info, field, split="train"
    )
    assert not trained_on_split(info, field, split="valid")  # held out
    assert not trained_on_split(info, cub, split="test") and not trained_on_split(
        {}, cub, split="valid"
    )


def test_hold_out_catches_a_resized_re_encoded_copy(tmp_path: Path):
    original = BIRDS525 / "valid" / "ABBOTTS BABBLER" / "2.jpg"
    held = tmp_path / "held" / "SOME BIRD"
    held.mkdir(parents=True)
    Image.open(original).resize((300, 300)).save(held / "renamed.jpg", quality=70)
    sources = gather_sources(BIRDS525, hold_out=[tmp_path / "held"], species=CATALOGUE)
    kept = {s.path for split in sources.catalogue.splits.values() for s in split}
    assert original not in kept
    assert len(kept) == 3 * 5 - 1


def test_class_weights_give_each_species_the_same_total_weight():
    labels = np.array([0] * 40 + [1] * 4 + [2] * 4)
    balanced = class_weights(labels, n_species=3, balance=1.0)
    totals = [balanced[labels == c].sum() for c in range(3)]
    assert np.allclose(totals, totals[0]) and balanced.mean() == pytest.approx(1.0)
    assert np.allclose(class_weights(labels, n_species=3, balance=0.0), 1.0)
    assert np.allclose(class_weights(np.array([0, 0, 1, 1]), n_species=2, balance=1.0), 1.0)
    added = np.array([False] * 4 + [True] * 36 + [False] * 8)
    weighted = class_weights(labels, n_species=3, balance=1.0, from_added=added, added_weight=0.3)
    # species 0 has 40 photos (36 added, which weigh 0.3 against its catalogue photos)
    assert weighted[4] / weighted[0] == pytest.approx(0.3)
    assert weighted[40] / weighted[0] == pytest.approx(10)
    assert weighted.mean() == pytest.approx(1.0)


def test_open_set_threshold_lets_through_the_chosen_share_of_unknown_birds():
    unknown = np.linspace(0.0, 1.0, 201)
    threshold = open_set_threshold(unknown, answered=0.15)
    assert (unknown >= threshold).mean() == pytest.approx(0.15, abs=0.01)
    assert open_set_threshold(np.zeros(0)) == 0.0


def test_open_set_figures_and_trade_off():
    correct = np.array([True, True, False, True])
    figures = open_set_figures(
        known_correct=correct,
        known_verdicts=["bird", "uncertain", "bird", "no_bird"],
        unknown_verdicts=["bird", "uncertain"],
    )
    assert figures["catalogue_answered"] == 0.5 and figures["accuracy_when_answered"] == 0.5
    assert figures["unknown_answered"] == 0.5
    curve = trade_off(
        known_confidence=np.array([0.9, 0.8, 0.3, 0.6]),
        known_correct=correct,
        unknown_confidence=np.array([0.7, 0.2]),
    )
    at = {round(r["threshold"], 2): r for r in curve}
    assert at[0.5]["catalogue_answered"] == 0.75 and at[0.5]["accuracy_when_answered"] == 1.0
    assert at[0.5]["unknown_answered"] == 0.5 and at[0.8]["unknown_answered"] == 0.0


def test_an_added_folder_can_have_a_hold_out_of_its_own(tmp_path: Path, cub: Path):
    """Retraining: the base hold-out (`field/train`) keeps the crops of those photos out of
    `cub`, but not out of the new photos (`field`, logged as sightings); `field/valid`, judged
    on, stays out of both."""
    from ml.sources import held_out_of_all, trained_on_split

    field = linked_copy(FIELD, tmp_path / "field", ["AMERICAN GOLDFINCH"], rename=False)
    sources = gather_sources(
        BIRDS525,
        added=[cub, field],
        names=read_name_map(NAME_MAP),
        hold_out=[FIELD / "train", FIELD / "valid"],
        hold_out_of={field: [FIELD / "valid"]},
        species=CATALOGUE,
    )
    goldfinch = [s for s in sources.added if s.species == "AMERICAN GOLDFINCH"]
    assert sorted(s.path.parent.parent.parent.name for s in goldfinch) == ["field"] * 30
    record = {r.get("path"): r for r in sources.record}
    assert record[str(cub.resolve())]["held_out"] == 45
    assert record[str(field.resolve())]["held_out_by"] == [str((FIELD / "valid").resolve())]
    info = {"sources": sources.record}
    assert held_out_of_all(info) == {(FIELD / "valid").resolve()}
    assert not trained_on_split(info, FIELD, split="valid")
