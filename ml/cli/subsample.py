"""`subsample`: a balanced few-shot copy of a BIRDS-525-layout data set (`ml.data.subsample`)."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from ml.cli import CommandFailed, Log
from ml.data import DatasetError, subsample

HELP = "Write N random train photos per species (other splits as they are) to a new folder."
KAGGLE_DATASET = "gpiosenka/100-bird-species"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--source", help="data set folder (train/valid/test + birds.csv)")
    parser.add_argument("--out", required=True, help="folder to create")
    parser.add_argument("--per-class", type=int, default=25)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--overwrite", action="store_true", help="replace a non-empty --out")
    parser.add_argument(
        "--download",
        action="store_true",
        help=f"fetch Kaggle's {KAGGLE_DATASET} with kagglehub as the source",
    )


def run(options: dict[str, Any], log: Log) -> None:
    source = _download() if options["download"] else options["source"]
    if not source:
        raise CommandFailed("Give --source DIR, or --download.")
    per_class = options["per_class"]
    try:
        report = subsample(
            source,
            out=options["out"],
            per_class=per_class,
            seed=options["seed"],
            overwrite=options["overwrite"],
        )
    except DatasetError as exc:
        raise CommandFailed(str(exc)) from exc
    for name, count in report.short_species.items():
        log(f"warning: {name}: only {count} train photos")
    carried = ", ".join(f"{k} {v}" for k, v in report.carried_splits.items()) or "none"
    log(
        f"{sum(report.train_counts.values())} train photos of {len(report.train_counts)} species "
        f"({per_class} per species, {len(report.short_species)} with fewer); other splits "
        f"carried: {carried}; files {'hard-linked' if report.linked else 'copied'} -> {report.out}"
    )


def _download() -> Path:
    try:
        import kagglehub  # optional: only this option needs it
    except ImportError as exc:
        raise CommandFailed("kagglehub is not installed (pip install kagglehub).") from exc
    root = Path(kagglehub.dataset_download(KAGGLE_DATASET))
    # the archive holds the data set at its top or one folder down
    for candidate in (root, *sorted(p for p in root.iterdir() if p.is_dir())):
        if (candidate / "train").is_dir():
            return candidate
    raise CommandFailed(f"No train/ folder in the download at {root}")
