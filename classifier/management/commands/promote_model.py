"""Make a model directory the site's active model (``classifier.promotion.activate_model``)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from django.core.management.base import CommandParser

from classifier.management.model_switch import SwitchCommand
from classifier.models import ModelPromotion
from classifier.promotion import activate_model


class Command(SwitchCommand):
    help = (
        "Switch the site's active model to MODEL_DIR atomically (symlink swap in the models dir); "
        "the current model is kept as 'previous' for rollback_model, and the switch is recorded. "
        "Refused when some of the model's species are not in the Species table. Running workers "
        "pick the new model up within a few seconds, without a restart (get_predictor() re-reads "
        "where the 'active' link points). With BIRDSITE_MODEL_STORE=s3 the model is uploaded to "
        "the model bucket instead (once per version) and every web host fetches it."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("model_dir", type=Path, help="the model directory to serve")
        super().add_arguments(parser)

    def switch(self, *, performed_by: str, options: dict[str, Any]) -> ModelPromotion:
        return activate_model(model_dir=options["model_dir"], performed_by=performed_by)
