"""Write the photos people agreed to share, of species they chose or confirmed, as a data set
folder for training (`classifier.services.training_export`)."""

from __future__ import annotations

from pathlib import Path

from django.core.management.base import BaseCommand, CommandError, CommandParser

from classifier.management.export_options import add_export_arguments, since_day
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
        add_export_arguments(parser)

    def handle(self, *args, out: Path, since: str | None, min_per_species: int, **options) -> None:
        try:
            report = export_training_data(
                out_dir=Path(out),
                since=since_day(since),
                min_per_species=min_per_species,
                progress=progress_of(options),
            )
        except (TrainingExportError, StorageUnavailable) as error:
            raise CommandError(str(error)) from error
        first, *rest = report.summary_lines()
        self.stdout.write(self.style.SUCCESS(first))
        for line in rest:
            self.stdout.write(line)
