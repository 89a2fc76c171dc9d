"""Measure the classifier's acceptance figures and save them as JSON."""

from __future__ import annotations

import json
from pathlib import Path

from django.core.management.base import BaseCommand

from ml.config import data_dir


class Command(BaseCommand):
    help = (
        "Feature speed, default-model training time, cub100 F1, birds525 rotation accuracy, "
        "no_bird rates and non-bird rejection; printed and saved as JSON."
    )

    def add_arguments(self, parser):
        parser.add_argument("--out", help="JSON file (default: data_dir()/bench/ml.json)")
        parser.add_argument("--params", help="JSON file of head/training parameters")

    def handle(self, *args, out, params, **options):
        from ml.benchmark import run_benchmark, summary
        from ml.model import load_params

        report = run_benchmark(load_params(params) if params else None, log=self.stdout.write)
        path = Path(out) if out else data_dir() / "bench" / "ml.json"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(report, indent=2) + "\n")
        for line in summary(report):
            self.stdout.write(line)
        self.stdout.write(self.style.SUCCESS(f"saved {path}"))
