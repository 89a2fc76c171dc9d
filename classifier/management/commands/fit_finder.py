"""Fit the bird finder on field photos with true boxes (``ml.finder_fit.fit_finder``)."""

from __future__ import annotations

import json
from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from ml.config import shared_data_dir


class Command(BaseCommand):
    help = (
        "Fit the bird finder's box regressor on a field folder's split (photos + boxes.csv), "
        "choosing its strength by out-of-fold IoU; save it where train_model picks it up."
    )

    def add_arguments(self, parser):
        parser.add_argument("--field", type=Path, default=shared_data_dir() / "field")
        parser.add_argument("--split", default="train", choices=("train", "valid", "test"))
        parser.add_argument("--out", type=Path, help="folder (default: data_dir()/finder)")

    def handle(self, *args, field: Path, split: str, out: Path | None, **options):
        from ml.data import DatasetError
        from ml.finder_fit import fit_finder, save_finder

        try:
            finder, report = fit_finder(field, split, progress=options["verbosity"] > 0)
        except (DatasetError, FileNotFoundError, ValueError) as exc:
            raise CommandError(str(exc)) from exc
        folder = save_finder(finder, out)
        self.stdout.write(json.dumps(report["iou_hit_out_of_fold"], indent=1))
        self.stdout.write(
            self.style.SUCCESS(
                f"finder {report['policy_id']} ({report['chosen']}, {report['photos']} photos) "
                f"-> {folder}"
            )
        )
