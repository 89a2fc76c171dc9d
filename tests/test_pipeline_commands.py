"""The pipeline's management commands, run as a maintainer runs them, on real photos."""

from __future__ import annotations

import csv
import json
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


# --- activation after training: the same species check and record as promote_model ----------

ACTIVATED_SPECIES = ["AMERICAN FLAMINGO", "BALD EAGLE", "EMPEROR PENGUIN"]
QUICK_PARAMS = {"epochs": 5, "patience": 5, "train_views": 1, "dense1": 64}


def add_species(names: list[str]) -> None:
    from classifier.models import Species

    for name in names:
        Species.objects.create(name=name, slug=name.lower().replace(" ", "-"))


def quick_params(folder: Path) -> Path:
    path = folder / "quick.json"
    path.write_text(json.dumps(QUICK_PARAMS))
    return path


@pytest.mark.slow
@pytest.mark.django_db
def test_train_model_activate_checks_the_species_and_records_the_switch(
    shared_data: Path, settings, tmp_path
):
    from classifier.active_model import active_model_dir
    from classifier.models import ModelPromotion

    settings.MODELS_DIR = tmp_path / "models"
    train = {
        "data": [shared_data / "birds525"],
        "out": str(settings.MODELS_DIR),
        "params": str(quick_params(tmp_path)),
        "species": ACTIVATED_SPECIES,
        "per_class": 3,
        "activate": True,
    }
    add_species(ACTIVATED_SPECIES[:2])
    with pytest.raises(CommandError, match="not activated: 1 of the model's 3 species"):
        call_command("train_model", **train)
    assert len(list(settings.MODELS_DIR.iterdir())) == 1  # trained, kept, not served
    assert active_model_dir() is None and not ModelPromotion.objects.exists()

    add_species(ACTIVATED_SPECIES[2:])
    call_command("train_model", **train)
    record = ModelPromotion.objects.get()
    assert record.action == ModelPromotion.Action.PROMOTE and record.performed_by
    assert active_model_dir() == Path(record.model_path)
    assert record.version == Path(record.model_path).name


def small_catalogue(shared_data: Path, root: Path, species: list[str]) -> Path:
    """A BIRDS-525-layout folder of a few species' real photos (hard links)."""
    for name in species:
        source = shared_data / "birds525" / "valid" / name
        (root / "valid" / name).mkdir(parents=True)
        for photo in source.iterdir():
            os.link(photo, root / "valid" / name / photo.name)
    return root


@pytest.fixture
def isolated_data_dir(monkeypatch, settings, tmp_path) -> Path:
    """A data dir of its own (models, finder) sharing the backbone and the feature cache."""
    from ml.backbone import ensure_backbone
    from ml.config import data_dir
    from ml.finder import Finder
    from ml.finder_fit import save_finder

    ensure_backbone("lite0")
    shared = data_dir()
    (shared / "features").mkdir(exist_ok=True)
    root = tmp_path / "data"
    root.mkdir()
    for name in ("backbone", "features"):
        (root / name).symlink_to(shared / name)
    monkeypatch.setenv("BIRDSITE_DATA_DIR", str(root))
    save_finder(Finder())  # a finder exists: setup_classifier does not fit one on field photos
    settings.MODELS_DIR = root / "models"
    return root


@pytest.mark.slow
@pytest.mark.django_db
def test_setup_classifier_activates_what_it_trains_through_the_species_check(
    shared_data: Path, isolated_data_dir: Path, settings, tmp_path, capsys
):
    from classifier.active_model import active_model_dir
    from classifier.models import ModelPromotion

    catalogue = small_catalogue(shared_data, tmp_path / "catalogue", ACTIVATED_SPECIES)
    setup = {"data": [catalogue], "params": str(quick_params(tmp_path))}
    add_species(ACTIVATED_SPECIES[1:])
    with pytest.raises(CommandError, match="not activated: 1 of the model's 3 species"):
        call_command("setup_classifier", **setup)
    assert len(list(settings.MODELS_DIR.iterdir())) == 1
    assert active_model_dir() is None and not ModelPromotion.objects.exists()

    add_species(ACTIVATED_SPECIES[:1])
    call_command("setup_classifier", **setup)
    record = ModelPromotion.objects.get()
    assert record.action == ModelPromotion.Action.PROMOTE
    assert active_model_dir() == Path(record.model_path)
    capsys.readouterr()
    call_command("setup_classifier", **setup)  # a model is active: nothing to do
    assert f"model {record.version} is active" in capsys.readouterr().out
    assert ModelPromotion.objects.count() == 1
