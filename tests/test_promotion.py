"""The one activation path of the site's model: model dir check, species check, symlink switch,
records; promotion refuses exactly the folders serving refuses."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest
from django.core.management import CommandError, call_command

from classifier.models import ModelPromotion, Species
from classifier.promotion import PromotionError, activate_model, rollback_model
from ml.model_dir import CALIBRATION_FILE, REQUIRED_FILES, ModelDirError
from ml.predict import Predictor
from ml.registry import active_model_dir
from tests.model_dirs import fake_model_dir

pytestmark = pytest.mark.django_db

SPECIES = ["ABBOTTS BABBLER", "ABBOTTS BOOBY", "ABYSSINIAN GROUND HORNBILL"]


def add_species(names) -> None:
    for name in names:
        Species.objects.create(name=name, slug=name.lower().replace(" ", "-"))


@pytest.fixture
def models_dir(settings, tmp_path: Path) -> Path:
    settings.MODELS_DIR = tmp_path / "models"
    settings.MODELS_DIR.mkdir()
    add_species(SPECIES)
    return settings.MODELS_DIR


def test_promote_then_rollback_switches_and_records(models_dir: Path) -> None:
    first = fake_model_dir(models_dir, "v1", SPECIES)
    second = fake_model_dir(models_dir, "v2", SPECIES[:2])
    activate_model(model_dir=first, performed_by="alice")
    assert active_model_dir(models_root=models_dir) == first.resolve()
    record = activate_model(model_dir=second, performed_by="bob")
    assert active_model_dir(models_root=models_dir) == second.resolve()
    assert (record.action, record.version, record.performed_by) == ("promote", "v2", "bob")
    assert record.metrics == {"weighted_f1": 0.9}
    assert record.model_path == str(second.resolve())

    back = rollback_model(performed_by="carol")
    assert active_model_dir(models_root=models_dir) == first.resolve()
    assert (back.action, back.version) == ("rollback", "v1")
    # the model rolled back from is kept: a second rollback undoes the first
    rollback_model(performed_by="carol")
    assert active_model_dir(models_root=models_dir) == second.resolve()
    actions = list(ModelPromotion.objects.order_by("id").values_list("action", "version"))
    assert actions == [("promote", "v1"), ("promote", "v2"), ("rollback", "v1"), ("rollback", "v2")]


def test_unknown_species_are_refused_and_nothing_changes(models_dir: Path) -> None:
    good = fake_model_dir(models_dir, "v1", SPECIES)
    activate_model(model_dir=good, performed_by="alice")
    extra = [f"MADE UP BIRD {i}" for i in range(7)]
    bad = fake_model_dir(models_dir, "v2", SPECIES + extra)
    with pytest.raises(PromotionError) as caught:
        activate_model(model_dir=bad, performed_by="bob")
    assert "7 of the model's 10 species" in caught.value.message
    assert "MADE UP BIRD 0" in caught.value.message and "..." in caught.value.message
    assert f"promote_model {bad.resolve()}" in caught.value.message  # how to finish
    assert active_model_dir(models_root=models_dir) == good.resolve()
    assert ModelPromotion.objects.count() == 1


def test_rollback_checks_the_species_too(models_dir: Path) -> None:
    first = fake_model_dir(models_dir, "v1", SPECIES)
    second = fake_model_dir(models_dir, "v2", SPECIES[:1])
    activate_model(model_dir=first, performed_by="alice")
    activate_model(model_dir=second, performed_by="alice")
    Species.objects.filter(name=SPECIES[2]).delete()  # the previous model's species left
    with pytest.raises(PromotionError, match="1 of the model's 3 species"):
        rollback_model(performed_by="bob")
    assert active_model_dir(models_root=models_dir) == second.resolve()
    assert ModelPromotion.objects.count() == 2


def test_rollback_without_previous_model_is_refused(models_dir: Path) -> None:
    with pytest.raises(PromotionError, match="no previous model"):
        rollback_model(performed_by="alice")
    activate_model(model_dir=fake_model_dir(models_dir, "v1", SPECIES), performed_by="alice")
    with pytest.raises(PromotionError, match="no previous model"):
        rollback_model(performed_by="alice")
    assert ModelPromotion.objects.count() == 1


def refused_alike(folder: Path) -> str:
    """Promotion and serving refuse `folder` with the same message (returned)."""
    with pytest.raises(ModelDirError) as promoting:
        activate_model(model_dir=folder, performed_by="alice")
    with pytest.raises(ModelDirError) as serving:
        Predictor.load(folder.resolve())
    assert str(promoting.value) == str(serving.value)
    return str(serving.value)


@pytest.mark.parametrize("name", REQUIRED_FILES)
def test_a_folder_serving_refuses_is_refused_with_the_same_error(
    models_dir: Path, name: str
) -> None:
    folder = fake_model_dir(models_dir, "v1", SPECIES)
    (folder / name).unlink()
    assert refused_alike(folder).endswith(f"missing {name}")
    assert active_model_dir(models_root=models_dir) is None
    assert not ModelPromotion.objects.exists()


@pytest.mark.slow
def test_a_real_model_without_its_calibration_is_refused_by_promotion_and_serving(
    models_dir: Path, small_model_dir: Path
) -> None:
    from tests.model_fixtures import SMALL_SPECIES

    add_species(SMALL_SPECIES)
    complete = models_dir / "complete"
    shutil.copytree(small_model_dir, complete, copy_function=os.link)
    Predictor.load(complete)
    activate_model(model_dir=complete, performed_by="alice")
    broken = models_dir / "broken"
    shutil.copytree(small_model_dir, broken, copy_function=os.link)
    (broken / CALIBRATION_FILE).unlink()
    assert CALIBRATION_FILE in refused_alike(broken)
    assert active_model_dir(models_root=models_dir) == complete.resolve()
    assert ModelPromotion.objects.count() == 1


def test_commands(models_dir: Path, capsys) -> None:
    first = fake_model_dir(models_dir, "v1", SPECIES)
    second = fake_model_dir(models_dir, "v2", SPECIES)
    call_command("promote_model", str(first), by="dora")
    call_command("promote_model", str(second))
    assert "promoted v2" in capsys.readouterr().out
    call_command("rollback_model", by="dora")
    assert "rolled back to v1" in capsys.readouterr().out
    assert ModelPromotion.objects.first().performed_by == "dora"
    assert ModelPromotion.objects.order_by("id")[1].performed_by  # the OS user
    with pytest.raises(CommandError, match="not a complete model directory"):
        call_command("promote_model", str(models_dir / "missing"))


def test_commands_refuse_unknown_species(models_dir: Path) -> None:
    first = fake_model_dir(models_dir, "v1", SPECIES)
    unknown = fake_model_dir(models_dir, "v2", ["MADE UP BIRD"])
    with pytest.raises(CommandError, match="not in the Species table"):
        call_command("promote_model", str(unknown))
    call_command("promote_model", str(first))
    Species.objects.create(name="MADE UP BIRD", slug="made-up-bird")
    call_command("promote_model", str(unknown))
    Species.objects.filter(name=SPECIES[0]).delete()
    with pytest.raises(CommandError, match="not in the Species table"):
        call_command("rollback_model")
    assert active_model_dir(models_root=models_dir) == unknown.resolve()
    assert ModelPromotion.objects.count() == 2
