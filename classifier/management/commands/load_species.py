"""Fill the species gallery from a BIRDS-525-layout data set (idempotent)."""

from __future__ import annotations

from pathlib import Path

from django.core.management.base import BaseCommand, CommandError, CommandParser

from classifier.services.gallery import load_species
from core.storage import StorageUnavailable


class Command(BaseCommand):
    help = "Create or update species (and a few sample photos each) from a data set folder."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--data", required=True, type=Path, help="data set folder")
        parser.add_argument(
            "--photos", type=int, default=3, help="sample photos per species (default 3)"
        )

    def handle(self, *args, data: Path, photos: int, **options) -> None:
        from ml.data import DatasetError

        if photos < 0:
            raise CommandError("--photos must be 0 or more")
        try:
            report = load_species(data_dir=data, photos_per_species=photos)
        except (DatasetError, StorageUnavailable) as error:
            raise CommandError(str(error)) from error
        self.stdout.write(
            self.style.SUCCESS(
                f"{report.total} species: {report.created} created, {report.updated} updated, "
                f"{report.unchanged} unchanged; {report.photos_added} sample photos added."
            )
        )
