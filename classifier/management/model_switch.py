"""What the commands that change the site's active model share (promote_model, rollback_model,
train_model --activate, setup_classifier): a refusal is a `CommandError`, a switch one line."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from classifier.models import ModelPromotion
from classifier.promotion import PromotionError, default_operator
from ml.model_dir import ModelDirError


def switch_or_fail(switch: Callable[[], ModelPromotion], *, refused: str = "") -> ModelPromotion:
    """Run `switch` (an activation service call); its refusal, prefixed by `refused`, stops the
    command."""
    try:
        return switch()
    except (PromotionError, ModelDirError) as exc:
        raise CommandError(f"{refused}{exc}") from exc


DONE = {ModelPromotion.Action.PROMOTE: "promoted", ModelPromotion.Action.ROLLBACK: "rolled back to"}


def switch_summary(record: ModelPromotion) -> str:
    return (
        f"{DONE[record.action]} {record.version} ({record.model_path}) "
        f"by {record.performed_by}; workers switch within seconds"
    )


class SwitchCommand(BaseCommand):
    """A command whose whole job is one switch (promote_model, rollback_model): `--by`, the
    refusal, the summary line. Subclasses say which switch in `switch`."""

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--by", default=None, help="who switches (default: the OS user)")

    def switch(self, *, performed_by: str, options: dict[str, Any]) -> ModelPromotion:
        raise NotImplementedError

    def handle(self, *args: Any, by: str | None, **options: Any) -> None:
        operator = by or default_operator()
        record = switch_or_fail(lambda: self.switch(performed_by=operator, options=options))
        self.stdout.write(switch_summary(record))
