"""Serve the previously active model again (``classifier.promotion.rollback_model``)."""

from __future__ import annotations

from django.core.management.base import BaseCommand, CommandError

from classifier.promotion import PromotionError, default_operator, rollback_model
from ml.model_dir import ModelDirError


class Command(BaseCommand):
    help = (
        "Switch the site's active model back to the previous one atomically (the current one "
        "becomes 'previous', so a second rollback undoes the first) and record it; refused, like "
        "promote_model, when some of its species are not in the Species table. Running "
        "workers pick it up within a few seconds, without a restart."
    )

    def add_arguments(self, parser) -> None:
        parser.add_argument("--by", default=None, help="who rolls back (default: the OS user)")

    def handle(self, *args, by: str | None, **options) -> None:
        try:
            record = rollback_model(performed_by=by or default_operator())
        except (PromotionError, ModelDirError) as exc:
            raise CommandError(str(exc)) from exc
        self.stdout.write(
            f"rolled back to {record.version} ({record.model_path}) by {record.performed_by}; "
            "workers switch within seconds"
        )
