"""Retrain end to end on real photos: people log sightings through the services, the consenting
person's photos are exported cut to their boxes, a candidate is trained on the active model's
recipe plus the export, and it is promoted only as the rule says (`ml.promotion_rule`).

The catalogue is small (ten BIRDS-525 species, eight of them `field` species) and features are
cached (measured: the two slow tests 45 s and 39 s; the setup, the session's finder fit and the
base model, 60 s). Only `field/train` photos are logged; `field/valid` judges.
"""

from __future__ import annotations

import dataclasses
import io
import json
import os
from pathlib import Path

import pytest
from django.core.management import CommandError, call_command
from PIL import Image

from accounts.services import set_training_consent
from classifier.active_model import active_model_dir, reset_predictor
from classifier.boxes import whole_box
from classifier.models import ModelPromotion, Sighting, Species
from classifier.promotion import activate_model
from classifier.services import gallery
from classifier.services.retrain import retrain
from classifier.services.sightings import create_sighting
from classifier.services.training_export import export_training_data
from ml.config import shared_data_dir
from ml.data import read_boxes, read_dataset, read_name_map
from ml.images import upright_size
from ml.model_dir import DATA_FILE, RETRAIN_FILE
from ml.promotion_rule import decide
from ml.retrain import RetrainRefused
from tests.model_dirs import fake_model_dir

FIELD = shared_data_dir() / "field"
HELD_OUT = FIELD / "valid"
# field species (their BIRDS-525 names) and two that only the catalogue has
FIELD_SPECIES = [
    "AMERICAN GOLDFINCH",
    "INDIGO BUNTING",
    "PAINTED BUNTING",
    "RED WINGED BLACKBIRD",
    "YELLOW HEADED BLACKBIRD",
    "GRAY CATBIRD",
    "LAZULI BUNTING",
    "EUROPEAN GOLDFINCH",
]
CATALOGUE_SPECIES = [*FIELD_SPECIES, "BALD EAGLE", "SNOWY OWL"]
PHOTOS_PER_SPECIES = 12  # logged by the consenting person, of the 30 field/train photos of each
WRONG_PER_SPECIES = 6  # logged with the wrong species
PARAMS = {"epochs": 60, "patience": 15, "batch_size": 32, "train_views": 2, "tta_views": 1}


def small_catalogue(root: Path) -> Path:
    """BIRDS-525's own photos of CATALOGUE_SPECIES, in its layout (hard links)."""
    source = shared_data_dir() / "birds525"
    for name in CATALOGUE_SPECIES:
        (root / "valid" / name).mkdir(parents=True)
        for photo in sorted((source / "valid" / name).iterdir()):
            os.link(photo, root / "valid" / name / photo.name)
    (root / "birds.csv").write_bytes((source / "birds.csv").read_bytes())
    return root


@pytest.fixture(scope="module")
def base_model(tmp_path_factory, field_finder) -> Path:
    """The active model: the small catalogue alone, field/valid held out (as setup_classifier's
    default model holds it out)."""
    from ml.model import load_params
    from ml.train import train_model

    root = tmp_path_factory.mktemp("retrain")
    return train_model(
        small_catalogue(root / "catalogue"),
        out_dir=root / "models",
        params=load_params(**PARAMS),
        progress=False,
        log=lambda *_: None,
        finder=field_finder,
        hold_out=[HELD_OUT],
    )


@pytest.fixture
def site(settings, tmp_path: Path, base_model: Path, local_photos) -> Path:
    """The base model active on a site whose catalogue holds its species; retrain judges on
    field/valid; returns the models folder."""
    settings.MODELS_DIR = tmp_path / "models"
    settings.MODELS_DIR.mkdir()
    settings.RETRAIN_HELD_OUT = [HELD_OUT]
    gallery.load_species(data_dir=base_model.parent.parent / "catalogue", photos_per_species=0)
    activate_model(model_dir=base_model, performed_by="test")
    reset_predictor()
    yield settings.MODELS_DIR
    reset_predictor()


def field_photos(per_species: int) -> list[tuple[Path, str, str]]:
    """(field/train photo, its catalogue name, its box as the API takes it)."""
    names = read_name_map(shared_data_dir() / "cub-to-birds525.csv")
    boxes = read_boxes(FIELD)
    photos = []
    for sample in read_dataset(FIELD / "train").samples("train"):
        name = names.get(sample.species)
        if name in FIELD_SPECIES and sum(p[1] == name for p in photos) < per_species:
            width, height = upright_size(sample.path)
            box = whole_box(boxes[sample.path.resolve()].as_tuple(), width=width, height=height)
            photos.append((sample.path, name, ",".join(str(v) for v in box)))
    return photos


def log_sightings(owner, photos, *, species_of=lambda name: name) -> None:
    """Each photo as a sighting through the service layer, with its box and the species named."""
    for path, name, box in photos:
        create_sighting(
            owner=owner,
            data=path.read_bytes(),
            species=Species.objects.get(name=species_of(name)),
            box=box,
        )


@pytest.mark.slow
@pytest.mark.django_db
def test_consented_sightings_make_a_better_model_that_is_promoted(
    site: Path, django_user_model, tmp_path: Path, capsys
):
    alice = django_user_model.objects.create_user("alice", password=None)
    bob = django_user_model.objects.create_user("bob", password=None)
    set_training_consent(user=alice, allowed=True)
    photos = field_photos(PHOTOS_PER_SPECIES)
    log_sightings(alice, photos)
    log_sightings(bob, field_photos(2))  # bob has not consented

    export = export_training_data(out_dir=tmp_path / "export")
    exported = read_dataset(export.out_dir).samples("train")
    assert export.photos == len(exported) == len(photos)
    for sample in exported:  # alice's only, each cut to the box it was identified on
        sighting = Sighting.objects.get(pk=int(sample.path.stem.removeprefix("sighting-")))
        assert sighting.owner == alice and sighting.species.name == sample.species
        assert sighting.box_source == "person"
        assert Image.open(sample.path).size == (sighting.box_width, sighting.box_height)

    active = active_model_dir()
    report = retrain(
        performed_by="test", export_dir=export.out_dir, promote_if_better=True, log=lambda _: None
    )
    decision = report.judgement.decision
    assert decision == decide(held_out=decision.held_out, catalogue=decision.catalogue)
    held = decision.held_out
    assert held.photos > 100 and held.candidate_only > held.active_only
    assert decision.promote, decision.reasons
    assert active_model_dir() == report.candidate.path != active
    promotion = ModelPromotion.objects.latest("id")
    assert promotion.version == report.candidate.version
    assert promotion.metrics["evidence"]["decision"]["promote"] is True
    saved = json.loads((report.candidate.path / RETRAIN_FILE).read_text())
    assert saved["promoting"] and saved["decision"]["held_out"] == dataclasses.asdict(held)
    info = json.loads((report.candidate.path / DATA_FILE).read_text())
    assert str(export.out_dir.resolve()) in [r.get("path") for r in info["sources"]]
    summary = "\n".join(report.summary_lines())
    assert "McNemar" in summary and "Promoted" in summary


@pytest.mark.slow
@pytest.mark.django_db
def test_a_worse_model_is_refused_and_kept_aside(site: Path, django_user_model, tmp_path: Path):
    carol = django_user_model.objects.create_user("carol", password=None)
    set_training_consent(user=carol, allowed=True)
    # carol confirms the wrong species for every photo: the next field species in the list
    wrong = {n: FIELD_SPECIES[(i + 1) % len(FIELD_SPECIES)] for i, n in enumerate(FIELD_SPECIES)}
    log_sightings(carol, field_photos(WRONG_PER_SPECIES), species_of=wrong.get)
    export = export_training_data(out_dir=tmp_path / "export")

    active = active_model_dir()
    out = io.StringIO()
    call_command("retrain", export=export.out_dir, promote_if_better=True, stdout=out)
    assert active_model_dir() == active and ModelPromotion.objects.count() == 1
    (candidate,) = [p for p in site.iterdir() if p.name != "active"]  # kept, not served
    saved = json.loads((candidate / RETRAIN_FILE).read_text())
    decision = saved["decision"]
    assert saved["promoting"] is False and decision["promote"] is False
    held = decision["held_out"]
    assert held["candidate_accuracy"] < held["active_accuracy"]
    assert any(r.startswith("not better at 95% confidence") for r in decision["reasons"])
    printed = out.getvalue()
    assert (
        "one-sided exact McNemar p = " in printed and "Decision: keep the active model" in printed
    )
    assert f"Refused: the candidate is kept, not served, in {candidate}" in printed


def test_an_active_model_that_trained_on_the_held_out_folder_is_not_judged(settings, tmp_path):
    """The default model before it held field/valid out: nothing is trained or promoted."""
    settings.MODELS_DIR = tmp_path / "models"
    settings.RETRAIN_HELD_OUT = [HELD_OUT]
    model = fake_model_dir(settings.MODELS_DIR, "a1b2c3d4e5f6")
    records = [
        {"path": str(shared_data_dir() / "birds525"), "role": "catalogue"},
        {"path": str(FIELD.resolve()), "role": "added"},
    ]
    (model / DATA_FILE).write_text(json.dumps({"sources": records, "seed": 0}))
    (settings.MODELS_DIR / "active").symlink_to(model)
    with pytest.raises(RetrainRefused) as refused:
        retrain(performed_by="test", export_dir=tmp_path)
    message = str(refused.value)
    assert "model a1b2c3d4e5f6 trained on the photos of" in message
    assert str(HELD_OUT.resolve()) in message and f"--hold-out {HELD_OUT.resolve()}" in message
    with pytest.raises(CommandError, match="Nothing trained, nothing promoted"):
        call_command("retrain", export=tmp_path)
    assert sorted(p.name for p in settings.MODELS_DIR.iterdir()) == ["a1b2c3d4e5f6", "active"]


def test_without_an_active_model_there_is_nothing_to_compare(settings, tmp_path):
    settings.MODELS_DIR = tmp_path
    with pytest.raises(CommandError, match="No model is active"):
        call_command("retrain", export=tmp_path)
