"""Write the photos people agreed to share, of species they chose or confirmed, as a data set
folder for training (`classifier.services.training_export`)."""

from __future__ import annotations

import datetime
from pathlib import Path

from django.core.management.base import BaseCommand, CommandError, CommandParser

from classifier.services.training_export import TrainingExportError, export_training_data
from core.storage import StorageUnavailable
from ml.cli import progress_of


class Command(BaseCommand):
    help = (
        "Export the confirmed sightings of people who share their photos for training, cut to "
        "the bird's box, in the BIRDS-525 layout (train/<SPECIES>/*.jpg and birds.csv)."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--out", required=True, type=Path, help="new (or empty) folder")
        parser.add_argument(
            "--since",
            help="only sightings recorded on or after this day, YYYY-MM-DD (site's time zone)",
        )
        parser.add_argument(
            "--min-per-species",
            type=int,
            default=1,
            help="leave out species with fewer photos than this (default 1)",
        )

    def handle(self, *args, out: Path, since: str | None, min_per_species: int, **options) -> None:
        try:
            report = export_training_data(
                out_dir=Path(out),
                since=_day(since),
                min_per_species=min_per_species,
                progress=progress_of(options),
            )
        except (TrainingExportError, StorageUnavailable) as error:
            raise CommandError(str(error)) from error
        first, *rest = report.summary_lines()
        self.stdout.write(self.style.SUCCESS(first))
        for line in rest:
            self.stdout.write(line)


def _day(text: str | datetime.date | None) -> datetime.date | None:
    if text is None or isinstance(text, datetime.date):
        return text
    try:
        return datetime.date.fromisoformat(text)
    except ValueError:
        raise CommandError(f"--since: {text!r} is not a day; give it as YYYY-MM-DD.") from None
