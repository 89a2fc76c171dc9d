"""Make a model directory the site's active model (``classifier.promotion.activate_model``)."""

from __future__ import annotations

from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from classifier.promotion import PromotionError, activate_model, default_operator
from ml.model_dir import ModelDirError


class Command(BaseCommand):
    help = (
        "Switch the site's active model to MODEL_DIR atomically (symlink swap in the models dir); "
        "the current model is kept as 'previous' for rollback_model, and the switch is recorded. "
        "Refused when some of the model's species are not in the Species table. Running workers "
        "pick the new model up within a few seconds, without a restart (get_predictor() re-reads "
        "where the 'active' link points)."
    )

    def add_arguments(self, parser) -> None:
        parser.add_argument("model_dir", type=Path, help="the model directory to serve")
        parser.add_argument("--by", default=None, help="who promotes (default: the OS user)")

    def handle(self, *args, model_dir: Path, by: str | None, **options) -> None:
        try:
            record = activate_model(model_dir=model_dir, performed_by=by or default_operator())
        except (PromotionError, ModelDirError) as exc:
            raise CommandError(str(exc)) from exc
        self.stdout.write(
            f"promoted {record.version} ({record.model_path}) by {record.performed_by}; "
            "workers switch within seconds"
        )
