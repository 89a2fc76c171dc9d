"""`python -m ml train_model` as a management command (`ml.cli.train_model`), plus `--activate`:
make the new model the site's, through the one activation service."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from django.core.management.base import CommandParser

from classifier.management.ml_command import MlCommand
from classifier.management.model_switch import switch_or_fail, switch_summary
from classifier.promotion import activate_model, default_operator
from ml.cli import train_model


class Command(MlCommand):
    command = train_model

    def add_arguments(self, parser: CommandParser) -> None:
        super().add_arguments(parser)
        parser.add_argument(
            "--activate",
            action="store_true",
            help="make it the site's served model, as promote_model does (species checked, "
            "switch recorded)",
        )

    def after(self, result: Path, options: dict[str, Any]) -> None:
        if not options["activate"]:
            return
        record = switch_or_fail(
            lambda: activate_model(model_dir=result, performed_by=default_operator()),
            refused=f"Trained {result}, not activated: ",
        )
        self.stdout.write(switch_summary(record))
