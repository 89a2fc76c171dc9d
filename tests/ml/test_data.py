"""ml.data: reading BIRDS-525-layout folders, skipping bad files, balanced subsampling."""

from __future__ import annotations

import csv
import os
import shutil
from pathlib import Path

import numpy as np
import pytest

from ml.data import DatasetError, Sample, read_dataset, subsample, write_birds_csv
from ml.features import extract

from .photos import BIRDS525

SPECIES = ["ABBOTTS BABBLER", "BALD EAGLE", "SNOWY OWL"]


@pytest.fixture
def kaggle_like(tmp_path: Path) -> Path:
    """A small copy in the full Kaggle layout: train (3 or 5 per species), valid, test, csv."""
    root = tmp_path / "birds"
    rows = [["class id", "filepaths", "labels", "data set", "scientific name"]]
    for cid, name in enumerate(SPECIES):
        photos = sorted((BIRDS525 / "valid" / name).glob("*.jpg"))
        for split, chosen in [
            ("train", photos if cid else photos[:3]),
            ("valid", photos[:1]),
            ("test", photos[1:2]),
        ]:
            folder = root / split / name
            folder.mkdir(parents=True, exist_ok=True)
            for i, photo in enumerate(chosen):
                shutil.copy(photo, folder / f"{i:03d}.jpg")
                rows.append([f"{cid}.0", f"{split}/{name}/{i:03d}.jpg", name, split, f"SCI {name}"])
    (root / "train" / "BALD EAGLE" / "notes.txt").write_text("not a photo")
    with open(root / "birds.csv", "w", newline="") as handle:
        csv.writer(handle).writerows(rows)
    return root


def test_reads_splits_species_and_scientific_names(kaggle_like):
    dataset = read_dataset(kaggle_like)
    assert dataset.species == SPECIES
    assert dataset.counts("train") == {"ABBOTTS BABBLER": 3, "BALD EAGLE": 5, "SNOWY OWL": 5}
    assert len(dataset.samples("valid")) == 3 and len(dataset.samples("test")) == 3
    assert dataset.scientific_names["BALD EAGLE"] == "SCI BALD EAGLE"


def test_reads_the_shared_valid_only_collection():
    dataset = read_dataset(BIRDS525)
    assert len(dataset.species) == 525 and list(dataset.splits) == ["valid"]
    assert dataset.scientific_names["ABBOTTS BABBLER"] == "MALACOCINCLA ABBOTTI"


def test_species_filter_and_bad_folders(kaggle_like, tmp_path):
    assert read_dataset(kaggle_like, ["SNOWY OWL"]).species == ["SNOWY OWL"]
    with pytest.raises(DatasetError, match="not in"):
        read_dataset(kaggle_like, ["DODO"])
    with pytest.raises(DatasetError, match="not found"):
        read_dataset(tmp_path / "missing")
    (tmp_path / "empty").mkdir()
    with pytest.raises(DatasetError, match="No photos"):
        read_dataset(tmp_path / "empty")


class PixelMeans:
    """A stand-in backbone for cache tests: features are the mean colour of the left edge."""

    id = "test-means"

    def __init__(self) -> None:
        self.calls = 0

    def __call__(self, pixels: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        self.calls += len(pixels)
        left = pixels[:, :, :16].reshape(len(pixels), -1, 3).mean(axis=1)
        pooled = np.repeat(left, 1280 // 3 + 1, axis=1)
        maps = np.zeros((len(pixels), 7, 7), np.float32)
        return pooled[:, :1280].astype(np.float32), np.full(len(pixels), 0.5, np.float32), maps


def test_corrupt_and_non_images_are_skipped_and_features_cached(kaggle_like, tmp_path):
    folder = kaggle_like / "train" / "SNOWY OWL"
    good = sorted(folder.glob("*.jpg"))
    (folder / "truncated.jpg").write_bytes(good[0].read_bytes()[:2000])
    (folder / "fake.jpg").write_bytes(b"<html>not a photo</html>")
    paths = [s.path for s in read_dataset(kaggle_like, ["SNOWY OWL"]).samples("train")]
    backbone = PixelMeans()
    first = extract(
        paths, views=2, extractor=backbone, cache_dir=tmp_path / "cache", progress=False
    )
    assert {Path(p).name for p, _ in first.skipped} == {"truncated.jpg", "fake.jpg"}
    assert first.pooled.shape == (5, 2, 1280) and backbone.calls == 10
    again = extract(
        paths, views=2, extractor=backbone, cache_dir=tmp_path / "cache", progress=False
    )
    assert backbone.calls == 10 and again.extracted == 0  # all from the cache
    assert np.allclose(again.pooled, first.pooled, atol=0.05)
    assert not np.allclose(first.pooled[:, 0], first.pooled[:, 1])  # view 1 is mirrored


def test_subsample_balanced_linked_with_csv(kaggle_like, tmp_path):
    out = tmp_path / "sub"
    report = subsample(kaggle_like, out=out, per_class=4, seed=1)
    dataset = read_dataset(out)
    assert dataset.counts("train") == {"ABBOTTS BABBLER": 3, "BALD EAGLE": 4, "SNOWY OWL": 4}
    assert report.short_species == {"ABBOTTS BABBLER": 3}
    assert len(dataset.samples("valid")) == 3 and len(dataset.samples("test")) == 3
    assert report.linked
    some = dataset.samples("valid")[0].path
    assert (
        os.stat(some).st_ino == os.stat(kaggle_like / "valid" / some.parent.name / some.name).st_ino
    )
    with open(out / "birds.csv", newline="") as handle:
        rows = list(csv.DictReader(handle))
    assert len(rows) == 17 and all((out / r["filepaths"]).is_file() for r in rows)
    assert {r["scientific name"] for r in rows if r["labels"] == "SNOWY OWL"} == {"SCI SNOWY OWL"}
    assert (
        subsample(kaggle_like, out=tmp_path / "sub2", per_class=4, seed=1).train_counts
        == report.train_counts
    )


def test_write_birds_csv_is_read_back_with_its_scientific_names(kaggle_like, tmp_path):
    dataset = read_dataset(kaggle_like)
    samples = [Sample(s.path, s.species, "train") for s in dataset.samples("valid")]
    write_birds_csv(
        tmp_path / "birds.csv", samples, scientific_names={"SNOWY OWL": "Bubo scandiacus"}
    )
    with open(tmp_path / "birds.csv", newline="", encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle))
    assert list(rows[0]) == ["class id", "filepaths", "labels", "data set", "scientific name"]
    assert [(r["class id"], r["filepaths"], r["data set"]) for r in rows] == [
        ("0", "train/ABBOTTS BABBLER/000.jpg", "train"),
        ("1", "train/BALD EAGLE/000.jpg", "train"),
        ("2", "train/SNOWY OWL/000.jpg", "train"),
    ]
    assert [r["scientific name"] for r in rows] == ["", "", "Bubo scandiacus"]


def test_subsample_refuses_to_overwrite_and_leaves_nothing_on_failure(kaggle_like, tmp_path):
    out = tmp_path / "sub"
    subsample(kaggle_like, out=out, per_class=2)
    with pytest.raises(DatasetError, match="not empty"):
        subsample(kaggle_like, out=out, per_class=3)
    assert read_dataset(out).counts("train")["BALD EAGLE"] == 2
    subsample(kaggle_like, out=out, per_class=3, overwrite=True)
    assert read_dataset(out).counts("train")["BALD EAGLE"] == 3
    with pytest.raises(DatasetError, match="no train split"):
        subsample(BIRDS525, out=tmp_path / "none", per_class=2)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["birds", "sub"]
