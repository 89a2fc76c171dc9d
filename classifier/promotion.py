"""Services that switch the site's active model: promote a model directory, roll back.

The switch is `ml.registry.activate`: an atomic symlink swap in `MODELS_DIR` (`active` points
at the served model directory, `previous` at the one served before); a rollback activates
`previous`, so the model rolled back from becomes `previous` in turn. Each switch is recorded in
`ModelPromotion`. Running workers pick the new
model up without a restart: `classifier.predictor.get_predictor()` re-reads where `active`
points every few seconds and loads the new model directory when it changed.
"""

from __future__ import annotations

import getpass
import json
from collections.abc import Iterable
from pathlib import Path

from django.conf import settings
from django.db import transaction

from classifier.models import ModelPromotion, Species
from ml import registry

MISSING_SHOWN = 5


class PromotionError(Exception):
    """A promotion or rollback that was refused; nothing was changed. `message` says why."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


def default_operator() -> str:
    """Who is promoting when `--by` is not given: the OS user."""
    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return "unknown"


def missing_species(*, names: Iterable[str]) -> list[str]:
    """The model's species names (matched exactly, by name) that are not in the Species table."""
    names = set(names)
    known = set(Species.objects.filter(name__in=names).values_list("name", flat=True))
    return sorted(names - known)


def read_model_dir(*, model_dir: Path) -> tuple[str, list[str], dict]:
    """(version, species names, held-out metrics) of a model directory; refuses anything else."""
    model_dir = Path(model_dir)
    try:
        labels = json.loads((model_dir / "labels.json").read_text())
        version = json.loads((model_dir / "version.json").read_text())["version"]
    except (OSError, ValueError, KeyError) as exc:
        raise PromotionError(f"{model_dir} is not a complete model directory: {exc}") from exc
    if not (model_dir / "model.tflite").is_file():
        raise PromotionError(
            f"{model_dir} is not a complete model directory: model.tflite is missing."
        )
    metrics_path = model_dir / "metrics.json"
    metrics = json.loads(metrics_path.read_text()) if metrics_path.is_file() else {}
    return version, [entry["name"] for entry in labels], metrics


def promote_model(
    *, model_dir: Path, performed_by: str, models_dir: Path | None = None
) -> ModelPromotion:
    """Make `model_dir` the active model (the current one becomes `previous`) and record it.

    Refused, with nothing changed, when some of the model's species are not in the Species
    table (the site could not show or save them).
    """
    models_dir = Path(models_dir or settings.MODELS_DIR)
    model_dir = Path(model_dir).resolve()
    _, names, _ = read_model_dir(model_dir=model_dir)
    missing = missing_species(names=names)
    if missing:
        shown = ", ".join(missing[:MISSING_SHOWN]) + (
            ", ..." if len(missing) > MISSING_SHOWN else ""
        )
        raise PromotionError(
            f"{len(missing)} of the model's {len(names)} species are not in the Species table "
            f"({shown}). Load them first (manage.py load_species --data DIR)."
        )
    return _switch(
        action=ModelPromotion.Action.PROMOTE,
        model_dir=model_dir,
        models_dir=models_dir,
        performed_by=performed_by,
    )


def rollback_model(*, performed_by: str, models_dir: Path | None = None) -> ModelPromotion:
    """Make the `previous` model active again (the current one becomes `previous`) and record it."""
    models_dir = Path(models_dir or settings.MODELS_DIR)
    previous = registry.previous_model_dir(models_dir)
    if previous is None:
        raise PromotionError(f"There is no previous model to roll back to in {models_dir}.")
    # The current model becomes `previous`, so a second rollback undoes the first.
    return _switch(
        action=ModelPromotion.Action.ROLLBACK,
        model_dir=previous,
        models_dir=models_dir,
        performed_by=performed_by,
    )


def _switch(*, action: str, model_dir: Path, models_dir: Path, performed_by: str) -> ModelPromotion:
    """Record the switch and swap the `active` link; the record rolls back if the swap fails."""
    version, _, metrics = read_model_dir(model_dir=model_dir)
    with transaction.atomic():
        record = ModelPromotion.objects.create(
            action=action,
            version=version,
            model_path=str(model_dir),
            metrics=metrics,
            performed_by=performed_by,
        )
        registry.activate(model_dir, models_dir)
    return record
