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


def small_field_folder(shared_data: Path, root: Path, per_species: int = 6) -> Path:
    """A field folder of a few real photos per species (hard links) with their boxes."""
    source = shared_data / "field"
    with open(source / "boxes.csv", newline="") as handle:
        rows = list(csv.DictReader(handle))
    kept, seen = [], {}
    for row in rows:
        split, species, _ = row["filepaths"].split("/")
        if split == "train" and seen.get(species, 0) < per_species:
            seen[species] = seen.get(species, 0) + 1
            kept.append(row)
    for row in kept:
        target = root / row["filepaths"]
        target.parent.mkdir(parents=True, exist_ok=True)
        os.link(source / row["filepaths"], target)
    with open(root / "boxes.csv", "w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(kept)
    return root


@pytest.mark.slow
def test_fit_finder_command_saves_a_finder_and_refuses_a_model_without_field_species(
    shared_data: Path, small_model_dir: Path, tmp_path, capsys
):
    from ml.finder import Finder

    field = small_field_folder(shared_data, tmp_path / "field")
    out = tmp_path / "finder"
    call_command("fit_finder", field=str(field), out=str(out))
    assert "finder-" in capsys.readouterr().out
    finder = Finder.load(out)
    assert finder is not None and {p.name for p in out.iterdir()} <= {
        "finder.json",
        "finder_boxes.npz",
    }
    # the small model knows none of the field species: a clear error, the saved finder untouched
    before = (out / "finder.json").read_bytes()
    with pytest.raises(CommandError, match="species the model knows"):
        call_command("fit_finder", field=str(field), out=str(out), model=str(small_model_dir))
    assert (out / "finder.json").read_bytes() == before
