"""`build_backbone`: convert and export the ImageNet backbone once (`ml.backbone`)."""

from __future__ import annotations

import argparse
import time
from typing import Any

from ml.backbone import ensure_backbone
from ml.backbone_files import KINDS
from ml.cli import CommandFailed, Log

HELP = "Make the backbone's Keras weights and TFLite file under the data dir (cached)."


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--kind", choices=KINDS, default="lite0", help="backbone to build")


def run(options: dict[str, Any], log: Log) -> None:
    kind = options["kind"]
    start = time.perf_counter()
    try:
        files = ensure_backbone(kind)
    except (RuntimeError, FileNotFoundError, ValueError) as exc:
        raise CommandFailed(str(exc)) from exc
    what = f"built {', '.join(files.made)}" if files.made else "already built, nothing to do"
    log(f"backbone {kind}: {what} in {time.perf_counter() - start:.1f} s")
    log(f"  weights: {files.weights}")
    log(f"  tflite:  {files.tflite}")
