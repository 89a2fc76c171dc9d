"""The one way the site's active model changes: `activate_model` (and `rollback_model` on it).

Every path goes through it (`promote_model`, `rollback_model`, `train_model --activate`,
`setup_classifier`): it opens the model directory (`ml.model_dir.ModelDir.open`, the check
serving makes), refuses a model whose species are not all in the Species table, swaps the
`active` link (`ml.registry.activate`: an atomic symlink swap in `MODELS_DIR`; `previous` keeps
the one served before) and records the switch in `ModelPromotion`. A rollback activates
`previous`, so the model rolled back from becomes `previous` in turn. Running workers pick the
new model up without a restart: `classifier.active_model.get_predictor()` re-reads where `active`
points every few seconds and loads the new model directory when it changed.

With the S3 model store (`BIRDSITE_MODEL_STORE=s3`, `classifier.model_store`) no link moves: the
model is uploaded to the bucket (once per version) and the record alone makes it active, for
every host; a rollback activates the version active before the current one, fetched (and
checked) from the store.
"""

from __future__ import annotations

import getpass
from collections.abc import Iterable
from pathlib import Path

from django.conf import settings
from django.db import transaction

from classifier import model_store
from classifier.models import ModelPromotion, Species
from ml import registry
from ml.model_dir import ModelDir

MISSING_SHOWN = 5


class PromotionError(Exception):
    """A promotion or rollback that was refused; nothing was changed. `message` says why.

    (A folder that is not a model directory raises `ml.model_dir.ModelDirError` instead: the
    error serving would give.)"""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


def default_operator() -> str:
    """Who is switching when no one is named: the OS user."""
    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return "unknown"


def missing_species(*, names: Iterable[str]) -> list[str]:
    """The model's species names (matched exactly, by name) that are not in the Species table."""
    names = set(names)
    known = set(Species.objects.filter(name__in=names).values_list("name", flat=True))
    return sorted(names - known)


def activate_model(
    *,
    model_dir: Path,
    performed_by: str,
    action: ModelPromotion.Action = ModelPromotion.Action.PROMOTE,
    models_dir: Path | None = None,
    evidence: dict | None = None,
) -> ModelPromotion:
    """Make `model_dir` the site's active model (the current one becomes `previous`) and record
    the switch as `action`, with the model's metrics (and `evidence`, e.g. retrain's judgement,
    under the key `evidence`).

    Refused with nothing changed: a folder that is not a model directory (ModelDirError), a
    model some of whose species are not in the Species table (PromotionError: the site could
    not show or save them). The record rolls back if the link swap fails.
    """
    models_dir = Path(models_dir or settings.MODELS_DIR)
    model = ModelDir.open(path=Path(model_dir).resolve())
    missing = missing_species(names=model.species)
    if missing:
        shown = ", ".join(missing[:MISSING_SHOWN]) + (
            ", ..." if len(missing) > MISSING_SHOWN else ""
        )
        raise PromotionError(
            f"{len(missing)} of the model's {len(model.species)} species are not in the Species "
            f"table ({shown}). Load them first (manage.py load_species --data DIR), then: "
            f"manage.py promote_model {model.path}"
        )
    if model_store.enabled():
        try:
            stored_at = model_store.publish(model=model)
        except model_store.ModelStoreError as error:
            raise PromotionError(f"Not promoted, nothing changed: {error}") from error
        return _record(
            model=model, model_path=stored_at, action=action, by=performed_by, evidence=evidence
        )
    with transaction.atomic():
        record = _record(
            model=model,
            model_path=str(model.path),
            action=action,
            by=performed_by,
            evidence=evidence,
        )
        registry.activate(model_dir=model.path, models_root=models_dir)
    return record


def _record(
    *,
    model: ModelDir,
    model_path: str,
    action: ModelPromotion.Action,
    by: str,
    evidence: dict | None,
) -> ModelPromotion:
    return ModelPromotion.objects.create(
        action=action,
        version=model.version,
        model_path=model_path,
        metrics=model.metrics if evidence is None else {**model.metrics, "evidence": evidence},
        performed_by=by,
    )


def rollback_model(*, performed_by: str, models_dir: Path | None = None) -> ModelPromotion:
    """Make the `previous` model active again (the current one becomes `previous`, so a second
    rollback undoes the first), through `activate_model`."""
    models_dir = Path(models_dir or settings.MODELS_DIR)
    previous = (
        _previous_in_store(models_dir=models_dir)
        if model_store.enabled()
        else registry.previous_model_dir(models_root=models_dir)
    )
    if previous is None:
        where = "the promotion history" if model_store.enabled() else models_dir
        raise PromotionError(f"There is no previous model to roll back to in {where}.")
    return activate_model(
        model_dir=previous,
        performed_by=performed_by,
        action=ModelPromotion.Action.ROLLBACK,
        models_dir=models_dir,
    )


def _previous_in_store(*, models_dir: Path) -> Path | None:
    """The local copy of the version active before the current one (fetched when missing)."""
    version = model_store.previous_version()
    if version is None:
        return None
    try:
        return model_store.fetch(version=version, models_root=models_dir).path
    except model_store.ModelStoreError as error:
        raise PromotionError(f"Not rolled back, nothing changed: {error}") from error
