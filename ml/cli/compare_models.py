"""`compare_models`: two model directories side by side on one split (`ml.compare`)."""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

from ml.cli import CommandFailed, Log, progress_of
from ml.cli.arguments import add_runtime_argument
from ml.compare import compare, table
from ml.evaluate import BAD_INPUT

HELP = "Two models side by side: metrics, size on disk, parameter count, latency per image."


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("dir_a", type=Path)
    parser.add_argument("dir_b", type=Path)
    parser.add_argument(
        "--data", type=Path, required=True, help="data set folder (BIRDS-525 layout)"
    )
    parser.add_argument("--split", choices=("train", "valid", "test"), default="valid")
    parser.add_argument("--json", action="store_true", help="print JSON instead of a table")
    add_runtime_argument(parser)


def run(options: dict[str, Any], log: Log) -> None:
    try:
        rows = compare(
            options["dir_a"],
            options["dir_b"],
            data=options["data"],
            split=options["split"],
            progress=progress_of(options),
            engine=options["runtime"],
        )
    except BAD_INPUT as exc:
        raise CommandFailed(str(exc)) from exc
    log(json.dumps(rows, indent=2) if options["json"] else table(rows))
