"""`train_model`: train the species head on cached backbone features into a model directory
(`ml.train.train_model`); `manage.py train_model --activate` also makes it the site's model."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from ml.cli import CommandFailed, Log, progress_of
from ml.cli.arguments import add_sources_arguments
from ml.data import DatasetError, read_name_map
from ml.finder_fit import current_finder
from ml.model import load_params
from ml.train import train_model

HELP = "Train the species head on cached backbone features; write data_dir()/models/<version>."


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_sources_arguments(parser, required=True)
    parser.add_argument(
        "--out", type=Path, help="folder to create the model directory in (default: models dir)"
    )
    parser.add_argument("--params", help="JSON file of head/training parameters (see ml.model)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument(
        "--no-finder",
        action="store_true",
        help="classify the full frame only (no bird finder, one pass per photo)",
    )
    parser.add_argument("--per-class", type=int, help="at most N training photos per species")
    parser.add_argument("--species", nargs="+", help="only these species (by name)")


def run(options: dict[str, Any], log: Log) -> Path:
    """The new model directory."""
    data, params = options["data"], options["params"]
    try:
        model_dir = train_model(
            data[0],
            out_dir=options["out"],
            params=load_params(params) if params else None,
            seed=options["seed"],
            species=options["species"],
            per_class=options["per_class"],
            progress=progress_of(options),
            log=log,
            finder=None if options["no_finder"] else current_finder(),
            added=data[1:],
            names=read_name_map(options["names"]) if len(data) > 1 else None,
            hold_out=options["hold_out"],
        )
    except (DatasetError, ValueError, FileNotFoundError) as exc:
        raise CommandFailed(str(exc)) from exc
    log(str(model_dir))
    return model_dir
