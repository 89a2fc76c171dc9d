"""`retrain`: train on the base data plus the sightings people confirmed and consented to share;
promote only if better (`classifier.services.retrain`)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from classifier.management.export_options import add_export_arguments, since_day
from classifier.promotion import PromotionError, default_operator
from classifier.services.retrain import retrain
from ml.cli import progress_of
from ml.data import DatasetError
from ml.model_dir import ModelDirError
from ml.retrain import RetrainRefused


class Command(BaseCommand):
    help = (
        "Train a candidate on the active model's own data plus the export of the consented, "
        "confirmed sightings; compare it with the active model photo by photo on the held-out "
        "folders (BIRDSITE_RETRAIN_HELD_OUT) and the catalogue check; with --promote-if-better, "
        "promote it only when it is better (one-sided exact McNemar at 95%) and loses at most "
        "one point on the catalogue."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--export",
            type=Path,
            help="an existing export folder (default: export now, into the data dir's exports/)",
        )
        add_export_arguments(parser)
        parser.add_argument(
            "--promote-if-better",
            action="store_true",
            help="promote the candidate when the rule says it is better (else only report)",
        )
        parser.add_argument("--seed", type=int, help="training seed (default: the active model's)")
        parser.add_argument("--by", help="who promotes (default: the OS user)")

    def handle(self, *args: Any, **options: Any) -> None:
        try:
            report = retrain(
                performed_by=options["by"] or default_operator(),
                export_dir=options["export"],
                since=since_day(options["since"]),
                min_per_species=options["min_per_species"],
                promote_if_better=options["promote_if_better"],
                seed=options["seed"],
                progress=progress_of(options),
                log=self.stdout.write,
            )
        except (RetrainRefused, PromotionError, ModelDirError, DatasetError) as exc:
            raise CommandError(str(exc)) from exc
        for line in report.summary_lines():
            self.stdout.write(line)
