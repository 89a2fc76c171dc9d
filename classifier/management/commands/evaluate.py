"""Evaluate a model directory on a data set split (``ml.evaluate.evaluate``)."""

from __future__ import annotations

from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from classifier.management.arguments import add_name_map_argument
from ml.data import DatasetError, read_name_map
from ml.evaluate import EvaluationError, evaluate, summary_lines
from ml.field import field_report, field_summary
from ml.tune_store import write_json_atomic


class Command(BaseCommand):
    help = (
        "Run a model directory's Predictor (LiteRT) over a split and write a report: "
        "metrics.json, per_species.csv, confused_pairs.csv, confusion/reliability/misclassified "
        "PNGs and report.md."
    )

    def add_arguments(self, parser) -> None:
        parser.add_argument("model_dir", type=Path)
        parser.add_argument(
            "--data", type=Path, required=True, help="data set folder (BIRDS-525 layout)"
        )
        parser.add_argument("--split", choices=("train", "valid", "test"), default="valid")
        parser.add_argument(
            "--negatives", type=Path, default=None, help="a folder of non-bird photos"
        )
        parser.add_argument("--out", type=Path, required=True, help="report folder")
        parser.add_argument(
            "--field",
            type=Path,
            help="also judge a field folder (full-size photos + boxes.csv): full view, finder "
            "and true box; writes field.json",
        )
        add_name_map_argument(parser, " (for --data and --field)")

    def handle(
        self,
        *args,
        model_dir: Path,
        data: Path,
        split: str,
        negatives: Path | None,
        out: Path,
        field: Path | None,
        names: Path,
        **options,
    ) -> None:
        try:
            evaluation, _ = evaluate(
                model_dir,
                data,
                split=split,
                negatives=negatives,
                out=out,
                progress=options["verbosity"] > 0,
                name_map=read_name_map(names) if Path(names).is_file() else None,
            )
        except (EvaluationError, DatasetError, FileNotFoundError) as exc:
            raise CommandError(str(exc)) from exc
        for line in summary_lines(evaluation):
            self.stdout.write(line)
        if field is not None:
            try:
                figures = field_report(
                    model_dir, field, read_name_map(names), split, options["verbosity"] > 0
                )
            except (DatasetError, FileNotFoundError, ValueError) as exc:
                raise CommandError(str(exc)) from exc
            write_json_atomic(Path(out) / "field.json", figures)
            for line in field_summary(figures):
                self.stdout.write(line)
        self.stdout.write(f"report: {Path(out) / 'report.md'} ({evaluation.seconds:.1f} s)")
