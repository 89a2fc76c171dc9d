"""`evaluate`: a model directory's Predictor over a split, written as a report folder
(`ml.evaluate`, `ml.report`), and optionally the field report (`ml.field`)."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from ml.atomic import write_json
from ml.cli import CommandFailed, Log, progress_of
from ml.cli.arguments import add_name_map_argument, add_runtime_argument
from ml.data import DatasetError, read_name_map
from ml.evaluate import BAD_INPUT, evaluate
from ml.field import field_report, field_summary
from ml.model_dir import ModelDirError
from ml.report import summary_lines, write_evaluation

HELP = (
    "Run a model directory's Predictor (LiteRT, or --runtime) over a split and write a report: "
    "metrics.json, per_species.csv, confused_pairs.csv, confusion/reliability/misclassified PNGs "
    "and report.md."
)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("model_dir", type=Path)
    parser.add_argument(
        "--data", type=Path, required=True, help="data set folder (BIRDS-525 layout)"
    )
    parser.add_argument("--split", choices=("train", "valid", "test"), default="valid")
    parser.add_argument("--negatives", type=Path, default=None, help="a folder of non-bird photos")
    parser.add_argument("--out", type=Path, required=True, help="report folder")
    parser.add_argument(
        "--field",
        type=Path,
        help="also judge a field folder (full-size photos + boxes.csv): full view, finder and "
        "true box; writes field.json",
    )
    add_name_map_argument(parser, " (for --data and --field)")
    add_runtime_argument(parser)


def run(options: dict[str, Any], log: Log) -> None:
    model_dir, data = options["model_dir"], options["data"]
    names, progress = Path(options["names"]), progress_of(options)
    try:
        evaluation, predictions = evaluate(
            model_dir,
            data,
            split=options["split"],
            negatives=options["negatives"],
            progress=progress,
            name_map=read_name_map(names) if names.is_file() else None,
            engine=options["runtime"],
        )
        report = write_evaluation(
            out=options["out"],
            evaluation=evaluation,
            predictions=predictions,
            model_dir=model_dir,
            data=data,
            split=options["split"],
        )
    except BAD_INPUT as exc:
        raise CommandFailed(str(exc)) from exc
    for line in summary_lines(evaluation):
        log(line)
    if options["field"] is not None:
        try:
            figures = field_report(
                model_dir,
                options["field"],
                name_map=read_name_map(names),
                split=options["split"],
                progress=progress,
            )
        except (DatasetError, ModelDirError, FileNotFoundError, ValueError) as exc:
            raise CommandFailed(str(exc)) from exc
        write_json(path=Path(options["out"]) / "field.json", value=figures)
        for line in field_summary(figures):
            log(line)
    log(f"report: {report} ({evaluation.seconds:.1f} s)")
