"""Promotion and rollback of the site's active model: species check, symlink switch, records."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from django.core.management import CommandError, call_command

from classifier.models import ModelPromotion, Species
from classifier.promotion import PromotionError, promote_model, rollback_model
from ml.registry import active_model_dir

pytestmark = pytest.mark.django_db

SPECIES = ["ABBOTTS BABBLER", "ABBOTTS BOOBY", "ABYSSINIAN GROUND HORNBILL"]


def make_model_dir(root: Path, version: str, names: list[str]) -> Path:
    """A model directory as far as promotion reads it (the files' contents are not served here)."""
    folder = root / version
    folder.mkdir(parents=True)
    labels = [{"index": i, "name": n, "scientific_name": ""} for i, n in enumerate(names)]
    (folder / "labels.json").write_text(json.dumps(labels))
    (folder / "version.json").write_text(
        json.dumps({"version": version, "created": "", "backbone": "lite0"})
    )
    (folder / "metrics.json").write_text(json.dumps({"weighted_f1": 0.9}))
    (folder / "model.tflite").write_bytes(b"tflite")
    return folder


@pytest.fixture
def models_dir(settings, tmp_path: Path) -> Path:
    settings.MODELS_DIR = tmp_path / "models"
    settings.MODELS_DIR.mkdir()
    for name in SPECIES:
        Species.objects.create(name=name, slug=name.lower().replace(" ", "-"))
    return settings.MODELS_DIR


def test_promote_then_rollback_switches_and_records(models_dir: Path) -> None:
    first = make_model_dir(models_dir, "v1", SPECIES)
    second = make_model_dir(models_dir, "v2", SPECIES[:2])
    promote_model(model_dir=first, performed_by="alice")
    assert active_model_dir(models_dir) == first.resolve()
    record = promote_model(model_dir=second, performed_by="bob")
    assert active_model_dir(models_dir) == second.resolve()
    assert (record.action, record.version, record.performed_by) == ("promote", "v2", "bob")
    assert record.metrics == {"weighted_f1": 0.9}

    back = rollback_model(performed_by="carol")
    assert active_model_dir(models_dir) == first.resolve()
    assert (back.action, back.version) == ("rollback", "v1")
    # the model rolled back from is kept: a second rollback undoes the first
    rollback_model(performed_by="carol")
    assert active_model_dir(models_dir) == second.resolve()
    actions = list(ModelPromotion.objects.order_by("id").values_list("action", "version"))
    assert actions == [("promote", "v1"), ("promote", "v2"), ("rollback", "v1"), ("rollback", "v2")]


def test_unknown_species_are_refused_and_nothing_changes(models_dir: Path) -> None:
    good = make_model_dir(models_dir, "v1", SPECIES)
    promote_model(model_dir=good, performed_by="alice")
    extra = [f"MADE UP BIRD {i}" for i in range(7)]
    bad = make_model_dir(models_dir, "v2", SPECIES + extra)
    with pytest.raises(PromotionError) as caught:
        promote_model(model_dir=bad, performed_by="bob")
    assert "7 of the model's 10 species" in caught.value.message
    assert "MADE UP BIRD 0" in caught.value.message and "..." in caught.value.message
    assert active_model_dir(models_dir) == good.resolve()
    assert ModelPromotion.objects.count() == 1


def test_rollback_without_previous_model_is_refused(models_dir: Path) -> None:
    with pytest.raises(PromotionError, match="no previous model"):
        rollback_model(performed_by="alice")
    promote_model(model_dir=make_model_dir(models_dir, "v1", SPECIES), performed_by="alice")
    with pytest.raises(PromotionError, match="no previous model"):
        rollback_model(performed_by="alice")
    assert ModelPromotion.objects.count() == 1


def test_an_incomplete_model_dir_is_refused(models_dir: Path, tmp_path: Path) -> None:
    folder = make_model_dir(models_dir, "v1", SPECIES)
    (folder / "model.tflite").unlink()
    with pytest.raises(PromotionError, match=r"model\.tflite"):
        promote_model(model_dir=folder, performed_by="alice")
    with pytest.raises(PromotionError, match="not a complete model directory"):
        promote_model(model_dir=tmp_path / "nowhere", performed_by="alice")


def test_commands(models_dir: Path, capsys) -> None:
    first = make_model_dir(models_dir, "v1", SPECIES)
    second = make_model_dir(models_dir, "v2", SPECIES)
    call_command("promote_model", str(first), by="dora")
    call_command("promote_model", str(second))
    assert "promoted v2" in capsys.readouterr().out
    call_command("rollback_model", by="dora")
    assert "rolled back to v1" in capsys.readouterr().out
    assert ModelPromotion.objects.first().performed_by == "dora"
    assert ModelPromotion.objects.order_by("id")[1].performed_by  # the OS user
    with pytest.raises(CommandError, match="not a complete model directory"):
        call_command("promote_model", str(models_dir / "missing"))
