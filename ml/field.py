"""Field photos: full-size scenes with the bird somewhere in the frame, and what the finder does
with them.

A field folder is in the BIRDS-525 layout (species named as in the source data set) plus
`boxes.csv` (`filepaths, x, y, width, height`: the bird's box in pixels of the upright photo,
paths relative to the folder). Species names reach the catalogue through a name map
(`ml.data.read_name_map`). `field_report` judges a model 525-way three ways on the same photos:
the full view only, the finder, and a square around the true box (the finder's ceiling).
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ml import console
from ml.data import read_boxes, read_dataset
from ml.evaluate import refuse_trained_photos
from ml.finder import Box
from ml.images import load_photo
from ml.predict import Predictor

IOU_HIT = 0.5  # a found box counts as right from this IoU with the true box


@dataclass(frozen=True)
class FieldPhoto:
    path: Path
    label: int  # the model's label index of its catalogue species
    box: Box  # the true bird box


def field_photos(
    root: Path, *, split: str, labels: list[str], name_map: dict[str, str]
) -> tuple[list[FieldPhoto], int]:
    """The split's photos of catalogue species the model knows, and how many were left out."""
    boxes = read_boxes(root)
    index = {name: i for i, name in enumerate(labels)}
    photos, left_out = [], 0
    for sample in read_dataset(root).samples(split):
        name = name_map.get(sample.species, sample.species)
        box = boxes.get(sample.path.resolve())
        if name in index and box is not None:
            photos.append(FieldPhoto(sample.path, index[name], box))
        else:
            left_out += 1
    return photos, left_out


def _ranks(suggestions, label: int) -> tuple[bool, bool]:
    indices = [s.index for s in suggestions]
    return indices[:1] == [label], label in indices[:5]


def field_report(
    model_dir: Path,
    root: Path,
    *,
    name_map: dict[str, str],
    split: str = "valid",
    progress: bool = True,
) -> dict:
    """Top-1/top-5 with the full view, the finder and the true box; the finder's found box
    against the true box; the finder's inference CPU per photo against the single pass,
    measured photo by photo in the same run (one LiteRT thread, the decode excluded: both
    paths decode the same way)."""
    refuse_trained_photos(model_dir, Path(root), split=split)
    predictor = Predictor.load(model_dir, num_threads=1)
    labels = [entry["name"] for entry in predictor.labels]
    photos, left_out = field_photos(Path(root), split=split, labels=labels, name_map=name_map)
    if not photos:
        raise ValueError(f"no photo of {root}/{split} is of a species the model knows")
    hits = {mode: np.zeros((len(photos), 2), bool) for mode in ("full", "finder", "true_box")}
    ious, cropped = np.zeros(len(photos)), np.zeros(len(photos), bool)
    cpu = {"full": 0.0, "finder": 0.0}
    for n, item in enumerate(console.progress(photos, desc=f"field {split}", disable=not progress)):
        photo = load_photo(item.path)
        order = ("full", "finder") if n % 2 == 0 else ("finder", "full")
        results = {}
        for mode in order:
            started = time.thread_time()
            results[mode] = predictor.predict(photo, use_finder=mode == "finder")
            cpu[mode] += time.thread_time() - started
        results["true_box"] = predictor.predict(photo, box=item.box)
        for mode, result in results.items():
            hits[mode][n] = _ranks(result.suggestions, item.label)
        found = results["finder"].found_box
        ious[n] = Box(*found).iou(item.box) if found else 0.0
        cropped[n] = results["finder"].box_source == "finder"
    report = {
        "photos": len(photos),
        "left_out_photos": left_out,
        "finder_params": predictor.finder.params.to_dict() if predictor.finder else None,
        "box_regressor": bool(predictor.finder and predictor.finder.regressor is not None),
        "found_box_iou_hit": float((ious >= IOU_HIT).mean()),
        "found_box_mean_iou": float(ious.mean()),
        "second_pass_share": float(cropped.mean()),
        "cpu_ratio_finder_vs_single": cpu["finder"] / cpu["full"] if cpu["full"] else None,
    }
    for mode, table in hits.items():
        report[f"{mode}_top1"] = float(table[:, 0].mean())
        report[f"{mode}_top5"] = float(table[:, 1].mean())
    return report


def field_summary(report: dict) -> list[str]:
    """The field figures, one line each."""
    return [
        f"field ({report['photos']} photos): top-1 / top-5 full view "
        f"{report['full_top1']:.3f} / {report['full_top5']:.3f}, finder "
        f"{report['finder_top1']:.3f} / {report['finder_top5']:.3f}, true box "
        f"{report['true_box_top1']:.3f} / {report['true_box_top5']:.3f}",
        f"finder: found box IoU >= {IOU_HIT} on {report['found_box_iou_hit']:.1%} of photos "
        f"(mean IoU {report['found_box_mean_iou']:.2f}); second pass on "
        f"{report['second_pass_share']:.1%}; inference CPU "
        f"{report['cpu_ratio_finder_vs_single']:.2f}x the single pass",
    ]
