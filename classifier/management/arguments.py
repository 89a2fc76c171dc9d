"""Command-line arguments that several management commands take alike."""

from __future__ import annotations

from pathlib import Path

from ml.config import shared_data_dir


def add_name_map_argument(parser, when: str = "") -> None:
    """`--names FILE.csv`: a data set's species names -> catalogue names (`ml.data.read_name_map`),
    by default the shared `cub-to-birds525.csv`."""
    parser.add_argument(
        "--names",
        type=Path,
        default=shared_data_dir() / "cub-to-birds525.csv",
        help=f"name map of the field species to catalogue names{when}",
    )
