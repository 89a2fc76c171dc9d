"""`fit_finder`: the bird finder fitted on field photos with true boxes (`ml.finder_fit`), saved
where the next `train_model` picks it up."""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

from ml.cli import CommandFailed, Log, progress_of
from ml.cli.arguments import add_name_map_argument
from ml.config import shared_data_dir
from ml.data import DatasetError, read_name_map
from ml.finder_fit import choose_crop_params, fit_finder, save_finder
from ml.model_dir import ModelDirError

HELP = (
    "Fit the bird finder's box regressor on a field folder's split (photos + boxes.csv), "
    "choosing its strength by out-of-fold IoU; save it where train_model picks it up."
)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--field", type=Path, default=shared_data_dir() / "field")
    parser.add_argument("--split", default="train", choices=("train", "valid", "test"))
    parser.add_argument(
        "--crops",
        type=Path,
        default=shared_data_dir() / "cub100",
        help="photos cut to the bird's box (its split's photos teach the regressor that such "
        "a photo is all bird; default: %(default)s; 'none' to fit on field photos alone)",
    )
    parser.add_argument(
        "--model",
        type=Path,
        help="also choose margin, crop_below and crop_weight by this model's top-1 on the "
        "split (at most half the photos take a second pass)",
    )
    parser.add_argument("--out", type=Path, help="folder (default: data_dir()/finder)")
    add_name_map_argument(parser, " (with --model)")


def run(options: dict[str, Any], log: Log) -> None:
    field, split, model, crops = (options[k] for k in ("field", "split", "model", "crops"))
    progress = progress_of(options)
    try:
        finder, report = fit_finder(
            field,
            split=split,
            progress=progress,
            crops_root=None if str(crops) == "none" else crops,
        )
        if model is not None:
            finder, crop_report = choose_crop_params(
                finder,
                model,
                field_root=field,
                name_map=read_name_map(options["names"]),
                split=split,
                progress=progress,
            )
    except (DatasetError, ModelDirError, FileNotFoundError, ValueError) as exc:
        raise CommandFailed(str(exc)) from exc
    folder = save_finder(finder, options["out"])
    log(json.dumps(report["iou_hit_out_of_fold"], indent=1))
    if report["cut_photos"]:
        log(
            f"photos cut to the bird that the finder would still crop (out of fold): "
            f"{report['cut_photos_cropped_out_of_fold'][report['chosen']]:.1%} of "
            f"{report['cut_photos']}"
        )
    if model is not None:
        best = crop_report["chosen"]
        log(
            f"crop parameters on {crop_report['photos']} photos: margin {best['margin']:g}, "
            f"crop_below {best['crop_below']:g}, crop_weight {best['crop_weight']:g} -> "
            f"top-1 {best['top1']:.3f} / top-5 {best['top5']:.3f} with "
            f"{best['second_pass_share']:.0%} second passes (full view "
            f"{crop_report['full_view_top1']:.3f} / {crop_report['full_view_top5']:.3f})"
        )
    log(f"finder {report['policy_id']} ({report['chosen']}, {report['photos']} photos) -> {folder}")
