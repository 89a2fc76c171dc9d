"""Fitting the bird finder's box regressor on field photos with true boxes (`field/train`).

Everything comes from the cached full-view pass (pooled features and bird map), so a fit costs
one backbone pass per new photo and then seconds. The ridge strength is chosen by out-of-fold
IoU on the same split; the threshold-only finder is scored beside it, and the regressor is kept
only when it finds more boxes.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path

import numpy as np

from ml.config import finder_dir
from ml.data import read_dataset
from ml.features import Extractor, default_extractor, extract
from ml.field import IOU_HIT, read_boxes
from ml.finder import Finder, FinderParams, box_features, box_target, fit_box_regressor
from ml.images import upright_size

ALPHAS = (0.3, 1.0, 3.0, 10.0)
FOLDS = 5


def _hit_rate(finder: Finder, rows: list[int], maps, pooled, sizes, boxes) -> float:
    hits = [finder.locate(maps[i], pooled[i], *sizes[i]).iou(boxes[i]) >= IOU_HIT for i in rows]
    return float(np.mean(hits)) if hits else 0.0


def fit_finder(
    field_root: Path,
    split: str = "train",
    extractor: Extractor | None = None,
    cache_dir: Path | None = None,
    progress: bool = True,
    seed: int = 0,
) -> tuple[Finder, dict]:
    """The finder for a field folder's split, and how each candidate scored (out of fold)."""
    boxes_by_path = read_boxes(field_root)
    samples = [
        s for s in read_dataset(field_root).samples(split) if s.path.resolve() in boxes_by_path
    ]
    if len(samples) < 2 * FOLDS:
        raise ValueError(f"{field_root}/{split} has {len(samples)} photos with boxes: too few")
    feats = extract(
        [s.path for s in samples], 1, extractor or default_extractor(), cache_dir, progress
    )
    kept = [samples[i] for i in feats.kept]
    sizes = [upright_size(s.path) for s in kept]
    boxes = [boxes_by_path[s.path.resolve()] for s in kept]
    maps, pooled = feats.bird_map, feats.pooled[:, 0]
    x = np.stack([box_features(maps[i], pooled[i], *sizes[i]) for i in range(len(kept))])
    y = np.stack([box_target(b, *size) for b, size in zip(boxes, sizes, strict=True)])
    folds = np.random.default_rng(seed).permutation(len(kept)) % FOLDS
    everyone = list(range(len(kept)))
    scores = {"threshold_only": _hit_rate(Finder(), everyone, maps, pooled, sizes, boxes)}
    for alpha in ALPHAS:
        hits = []
        for k in range(FOLDS):
            regressor = fit_box_regressor(x[folds != k], y[folds != k], alpha)
            rows = list(np.flatnonzero(folds == k))
            hits.append(
                _hit_rate(Finder(FinderParams(), regressor), rows, maps, pooled, sizes, boxes)
                * len(rows)
            )
        scores[f"ridge_{alpha:g}"] = float(sum(hits) / len(kept))
    best = max(scores, key=scores.get)
    finder = Finder()
    if best != "threshold_only":
        finder = Finder(FinderParams(), fit_box_regressor(x, y, float(best.split("_")[1])))
    report = {
        "photos": len(kept),
        "iou_hit_out_of_fold": scores,
        "chosen": best,
        "policy_id": finder.policy_id,
        "skipped": [p for p, _ in feats.skipped],
    }
    return finder, report


def save_finder(finder: Finder, folder: Path | None = None) -> Path:
    """Write the finder's files into `folder` (default data_dir()/finder) as a whole: built in a
    temp dir beside it, then swapped in."""
    folder = Path(folder) if folder is not None else finder_dir()
    folder.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{folder.name}-", dir=folder.parent))
    try:
        finder.save(tmp)
        for path in tmp.iterdir():
            path.chmod(0o644)
        old = folder.with_name(f".{folder.name}-old")
        if folder.exists():
            os.rename(folder, old)
        os.rename(tmp, folder)
        shutil.rmtree(old, ignore_errors=True)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return folder


def current_finder() -> Finder:
    """The finder `fit_finder` saved, else the threshold-only finder (no field photos yet)."""
    return Finder.load(finder_dir()) or Finder()
