"""`bench_ml`: the classifier's acceptance figures, printed and saved as JSON (`ml.benchmark`)."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from ml.atomic import write_json
from ml.benchmark import run_benchmark, summary
from ml.cli import Log
from ml.config import data_dir
from ml.model import load_params

HELP = (
    "Feature speed, default-model training time, cub100 F1, birds525 rotation accuracy, field "
    "photos, unknown species, tuning speed, no_bird rates and non-bird rejection; printed and "
    "saved as JSON."
)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--out", type=Path, help="JSON file (default: data_dir()/bench/ml.json)")
    parser.add_argument("--params", help="JSON file of head/training parameters")


def run(options: dict[str, Any], log: Log) -> None:
    params = options["params"]
    report = run_benchmark(params=load_params(params) if params else None, log=log)
    path = options["out"] or data_dir() / "bench" / "ml.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    write_json(path=path, value=report)
    for line in summary(report):
        log(line)
    log(f"saved {path}")
