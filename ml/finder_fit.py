"""Fitting the bird finder on field photos with true boxes (`field/train`).

The box regressor: everything comes from the cached full-view pass (pooled features and bird
map), so a fit costs one backbone pass per new photo and then seconds. The ridge strength is
chosen by out-of-fold IoU on the same split; the threshold-only finder is scored beside it, and
the regressor is kept only when it finds more boxes.

Field photos alone teach the regressor scenes only, so it found a small bird in about 1 in 10
photos that are already cut to the bird (BIRDS-525, `cub100`) and cropped them further. Photos
of a folder cut to the bird (`cub100/train`: each is its bird's box) join its training with the
whole frame as their box, one for every two field photos (docs/architecture.md has the figures).

The crop parameters (margin, when the second pass runs, the blend) need a classifier to score
them: `choose_crop_params` grids them with a trained model on the same split.
"""

from __future__ import annotations

import dataclasses
import itertools
from pathlib import Path

import numpy as np

from ml import console
from ml.atomic import staging_dir, swap_in
from ml.config import finder_dir
from ml.data import read_boxes, read_dataset
from ml.features import Extractor, default_extractor, extract
from ml.field import IOU_HIT, field_photos
from ml.finder import (
    Box,
    Finder,
    FinderParams,
    blend_probabilities,
    box_features,
    box_target,
    fit_box_regressor,
    square_around,
)
from ml.images import load_photo, upright_size, view_pixels
from ml.predict import Predictor

ALPHAS = (0.3, 1.0, 3.0, 10.0)
FOLDS = 5
CROPS_PER_FIELD_PHOTO = 0.5  # photos cut to the bird that join each field photo in the fit


def _hit_rate(finder: Finder, rows, maps, pooled, sizes, boxes) -> float:
    hits = [
        finder.locate(maps[i], pooled[i], width=sizes[i][0], height=sizes[i][1]).iou(boxes[i])
        >= IOU_HIT
        for i in rows
    ]
    return float(np.mean(hits)) if hits else 0.0


def _cropped_rate(finder: Finder, rows, maps, pooled, sizes) -> float:
    """The share of these photos that the finder would crop for a second pass."""
    crops = [
        finder.plan(maps[i], pooled[i], width=sizes[i][0], height=sizes[i][1]).crop is not None
        for i in rows
    ]
    return float(np.mean(crops)) if crops else 0.0


def fit_finder(
    field_root: Path,
    *,
    split: str = "train",
    extractor: Extractor | None = None,
    cache_dir: Path | None = None,
    progress: bool = True,
    seed: int = 0,
    crops_root: Path | None = None,
) -> tuple[Finder, dict]:
    """The finder for a field folder's split, and how each candidate scored (out of fold).

    `crops_root`: a folder of photos cut to the bird's box (`cub100`); some of its `split`
    photos teach the regressor that such a photo is all bird."""
    rng = np.random.default_rng(seed)
    boxes_by_path = read_boxes(field_root)
    samples = [
        s for s in read_dataset(field_root).samples(split) if s.path.resolve() in boxes_by_path
    ]
    if len(samples) < 2 * FOLDS:
        raise ValueError(f"{field_root}/{split} has {len(samples)} photos with boxes: too few")
    cut = [s.path for s in read_dataset(crops_root).samples(split)] if crops_root else []
    wanted = min(round(CROPS_PER_FIELD_PHOTO * len(samples)), len(cut))
    cut = [cut[i] for i in sorted(rng.choice(len(cut), wanted, replace=False))]
    paths = [s.path for s in samples] + cut
    feats = extract(
        paths,
        views=1,
        extractor=extractor or default_extractor(),
        cache_dir=cache_dir,
        progress=progress,
    )
    kept = [paths[i] for i in feats.kept]
    sizes = [upright_size(path) for path in kept]
    boxes = [
        boxes_by_path.get(path.resolve()) or Box(0.0, 0.0, float(w), float(h))
        for path, (w, h) in zip(kept, sizes, strict=True)
    ]
    is_field = np.array([i < len(samples) for i in feats.kept])
    maps, pooled = feats.bird_map, feats.pooled[:, 0]
    x = np.stack(
        [
            box_features(maps[i], pooled[i], width=sizes[i][0], height=sizes[i][1])
            for i in range(len(kept))
        ]
    )
    y = np.stack([box_target(b, width=w, height=h) for b, (w, h) in zip(boxes, sizes, strict=True)])
    folds = rng.permutation(len(kept)) % FOLDS

    def scored(finder: Finder, rows: np.ndarray) -> tuple[float, float]:
        """Field boxes found and cut photos cropped, summed over `rows`."""
        field_rows, cut_rows = rows[is_field[rows]], rows[~is_field[rows]]
        return (
            _hit_rate(finder, field_rows, maps, pooled, sizes, boxes) * len(field_rows),
            _cropped_rate(finder, cut_rows, maps, pooled, sizes) * len(cut_rows),
        )

    candidates = {"threshold_only": [scored(Finder(), np.arange(len(kept)))]}
    for alpha in ALPHAS:
        candidates[f"ridge_{alpha:g}"] = [
            scored(
                Finder(
                    FinderParams(), fit_box_regressor(x[folds != k], y[folds != k], alpha=alpha)
                ),
                np.flatnonzero(folds == k),
            )
            for k in range(FOLDS)
        ]
    n_field, n_cut = int(is_field.sum()), int((~is_field).sum())
    scores = {name: sum(h for h, _ in parts) / n_field for name, parts in candidates.items()}
    cropped = {name: sum(c for _, c in parts) / max(n_cut, 1) for name, parts in candidates.items()}
    best = max(scores, key=scores.get)
    finder = Finder()
    if best != "threshold_only":
        finder = Finder(FinderParams(), fit_box_regressor(x, y, alpha=float(best.split("_")[1])))
    report = {
        "photos": n_field,
        "cut_photos": n_cut,
        "iou_hit_out_of_fold": scores,
        "cut_photos_cropped_out_of_fold": cropped if n_cut else None,
        "chosen": best,
        "policy_id": finder.policy_id,
        "skipped": [p for p, _ in feats.skipped],
    }
    return finder, report


def save_finder(finder: Finder, folder: Path | None = None) -> Path:
    """Write the finder's files into `folder` (default data_dir()/finder) as a whole: built in a
    temp dir beside it, then swapped in."""
    folder = Path(folder) if folder is not None else finder_dir()
    with staging_dir(parent=folder.parent) as staged:
        finder.save(staged)
        return swap_in(staged=staged, target=folder)


def saved_finder() -> Finder | None:
    """The finder `fit_finder` saved in the data dir, if any."""
    return Finder.load(finder_dir())


def current_finder() -> Finder:
    """The finder `fit_finder` saved, else the threshold-only finder (no field photos yet)."""
    return saved_finder() or Finder()


# --- the crop parameters, chosen with a trained model --------------------------------------

MARGINS = (0.0, 0.1, 0.2)
CROP_BELOW = (0.6, 0.7, 0.8, 0.9, 1.0)
CROP_WEIGHTS = (0.6, 0.8, 1.0)
CROP_RAMPS = (0.0, 0.1)
# At most this share of photos may take the second pass: the finder's inference CPU stays
# within 1.6x the single pass.
MAX_SECOND_PASS = 0.5


def choose_crop_params(
    finder: Finder,
    model_dir: Path,
    *,
    field_root: Path,
    name_map: dict[str, str],
    split: str = "train",
    progress: bool = True,
) -> tuple[Finder, dict]:
    """Grid `margin` x `crop_below` x `crop_weight` by the model's top-1 on a field split,
    among the settings that send at most `MAX_SECOND_PASS` of the photos to a second pass.

    One crop pass per photo and margin; the rest of the grid is arithmetic on those answers.
    """
    predictor = Predictor.load(model_dir, num_threads=1)
    labels = [entry["name"] for entry in predictor.labels]
    photos, _ = field_photos(Path(field_root), split=split, labels=labels, name_map=name_map)
    if not photos:
        raise ValueError(f"no photo of {field_root}/{split} is of a species the model knows")
    full, crops, sides = [], {m: [] for m in MARGINS}, {m: [] for m in MARGINS}
    for item in console.progress(photos, desc=f"crops {split}", disable=not progress):
        image = load_photo(item.path).image
        outputs = predictor.model.run(view_pixels(image)[None])
        full.append(outputs[0][0])
        width, height = image.size
        found = finder.locate(outputs[2][0], outputs[3][0], width=width, height=height)
        for margin in MARGINS:
            square = square_around(found, width=width, height=height, margin=margin)
            crops[margin].append(
                predictor.model.run(view_pixels(image, box=square.as_tuple())[None])[0][0]
            )
            sides[margin].append(square.width / min(image.size))
    labels_true = np.array([item.label for item in photos])
    full_probs = np.stack(full)
    grid = []
    for margin in MARGINS:
        crop_probs, side = np.stack(crops[margin]), np.array(sides[margin])
        for below, weight, ramp in itertools.product(CROP_BELOW, CROP_WEIGHTS, CROP_RAMPS):
            params = dataclasses.replace(
                finder.params,
                margin=margin,
                crop_below=below,
                crop_weight=weight,
                crop_ramp=ramp,
            )
            weights = np.array([params.weight_for(share) for share in side])
            probs = np.stack(
                [
                    blend_probabilities(f, c, crop_weight=w) if w > 0 else f
                    for f, c, w in zip(full_probs, crop_probs, weights, strict=True)
                ]
            )
            top = np.argsort(-probs, axis=1)[:, :5]
            grid.append(
                {
                    "margin": margin,
                    "crop_below": below,
                    "crop_weight": weight,
                    "crop_ramp": ramp,
                    "second_pass_share": float((weights > 0).mean()),
                    "top1": float((top[:, 0] == labels_true).mean()),
                    "top5": float((top == labels_true[:, None]).any(axis=1).mean()),
                }
            )
    allowed = [g for g in grid if g["second_pass_share"] <= MAX_SECOND_PASS]
    best = max(allowed, key=lambda g: (g["top1"], g["top5"], -g["second_pass_share"]))
    params = dataclasses.replace(
        finder.params,
        margin=best["margin"],
        crop_below=best["crop_below"],
        crop_weight=best["crop_weight"],
        crop_ramp=best["crop_ramp"],
    )
    single = np.argsort(-full_probs, axis=1)[:, :5]
    report = {
        "photos": len(photos),
        "full_view_top1": float((single[:, 0] == labels_true).mean()),
        "full_view_top5": float((single == labels_true[:, None]).any(axis=1).mean()),
        "chosen": best,
        "grid": grid,
    }
    return Finder(params, finder.regressor), report
