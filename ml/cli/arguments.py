"""Command-line arguments that several commands take alike (`python -m ml` and `manage.py`)."""

from __future__ import annotations

import argparse
from pathlib import Path

from ml.config import default_name_map
from ml.runtimes import REFERENCE, Engine


def add_name_map_argument(parser: argparse.ArgumentParser, when: str = "") -> None:
    """`--names FILE.csv`: a data set's species names -> catalogue names (`ml.data.read_name_map`),
    by default the shared `cub-to-birds525.csv`."""
    parser.add_argument(
        "--names",
        type=Path,
        default=default_name_map(),
        help=f"name map of the field species to catalogue names{when}",
    )


def add_sources_arguments(
    parser: argparse.ArgumentParser, *, required: bool = False, default: list[Path] | None = None
) -> None:
    """`--data CATALOGUE [ADDED ...]`, `--names` and `--hold-out DIR ...` (`ml.sources`)."""
    parser.add_argument(
        "--data",
        nargs="+",
        type=Path,
        required=required,
        default=default,
        help="data set folders (train/valid/test and/or birds.csv): the first is the catalogue "
        "(its species are the model's); the others add their photos of catalogue species",
    )
    add_name_map_argument(parser, " (for the added --data folders)")
    parser.add_argument(
        "--hold-out",
        nargs="+",
        type=Path,
        default=[],
        metavar="DIR",
        help="keep these folders' photos, and copies or crops of them found by content, out of "
        "training (e.g. ../shared/data/field/valid, to judge on it)",
    )


def add_runtime_argument(parser: argparse.ArgumentParser) -> None:
    """`--runtime ENGINE`: judge the model on the engine that serves it (default LiteRT)."""
    parser.add_argument(
        "--runtime",
        type=Engine.parse,
        default=REFERENCE,
        metavar="ENGINE",
        help="the runtime engine to run the model on: litert (default), openvino, "
        "openvino-bf16, onnxruntime",
    )
