"""The pipeline's management commands, run as a maintainer runs them, on real photos."""

from __future__ import annotations

import csv
import os
from pathlib import Path

import pytest
from django.core.management import CommandError, call_command


def test_subsample_command_makes_a_balanced_hard_linked_subset(shared_data: Path, tmp_path, capsys):
    out = tmp_path / "cub100-3"
    call_command("subsample", source=str(shared_data / "cub100"), out=str(out), per_class=3, seed=1)
    summary = capsys.readouterr().out
    assert "300 train photos of 100 species" in summary and "hard-linked" in summary
    species = sorted(p for p in (out / "train").iterdir())
    assert len(species) == 100
    assert all(len(list(folder.iterdir())) == 3 for folder in species)
    photo = next(species[0].iterdir())
    assert os.stat(photo).st_nlink >= 2  # a hard link to the original, not a copy
    # The valid split is carried over unchanged, and the subset has its own birds.csv.
    assert len(list((out / "valid").glob("*/*.jpg"))) == len(
        list((shared_data / "cub100" / "valid").glob("*/*.jpg"))
    )
    with open(out / "birds.csv", newline="") as handle:
        rows = list(csv.DictReader(handle))
    assert sum(row["data set"] == "train" for row in rows) == 300


def test_subsample_command_refuses_a_missing_source(tmp_path):
    with pytest.raises(CommandError):
        call_command("subsample", source=str(tmp_path / "nowhere"), out=str(tmp_path / "out"))
    assert not (tmp_path / "out").exists()
