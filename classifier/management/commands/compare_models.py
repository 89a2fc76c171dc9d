"""Compare two model directories on one split (``ml.compare.compare``)."""

from __future__ import annotations

import json
from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from ml.compare import compare, table
from ml.data import DatasetError
from ml.evaluate import EvaluationError


class Command(BaseCommand):
    help = "Two models side by side: metrics, size on disk, parameter count, latency per image."

    def add_arguments(self, parser) -> None:
        parser.add_argument("dir_a", type=Path)
        parser.add_argument("dir_b", type=Path)
        parser.add_argument(
            "--data", type=Path, required=True, help="data set folder (BIRDS-525 layout)"
        )
        parser.add_argument("--split", choices=("train", "valid", "test"), default="valid")
        parser.add_argument("--json", action="store_true", help="print JSON instead of a table")

    def handle(self, *args, dir_a: Path, dir_b: Path, data: Path, split: str, **options) -> None:
        try:
            rows = compare(dir_a, dir_b, data, split=split, progress=options["verbosity"] > 0)
        except (EvaluationError, DatasetError, FileNotFoundError) as exc:
            raise CommandError(str(exc)) from exc
        self.stdout.write(json.dumps(rows, indent=2) if options["json"] else table(rows))
