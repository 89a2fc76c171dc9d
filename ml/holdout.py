"""Keeping photos out of training by their content: the photo itself, and copies cut from it.

A `field` photo and its `cub100` crop are the same photo under two names in two folders (the
crop is the photo's bird box, squashed to a square). Names cannot be trusted to tie them, so
both are compared as small normalised grey thumbnails: the crop against the photo's boxed region
(when the held-out folder has a `boxes.csv`), every file against the whole of each held-out
photo, plus identical bytes.
"""

from __future__ import annotations

import os
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image, ImageOps

from ml.data import BOXES_CSV, read_boxes, read_dataset
from ml.features import file_key
from ml.images import crop_box

THUMB_SIDE = 16
# Mean squared difference of two normalised thumbnails. On the shared photos, each of the 319
# `field/valid` photos' boxes lies below 0.09 from its `cub100/valid` crop (and one from a
# near-duplicate in `cub100/train`, 0.11); no other pair of the 1.4 million lies below 0.25.
SAME_PHOTO_DISTANCE = 0.2


def thumbnail(path: Path, box: tuple[float, float, float, float] | None = None) -> np.ndarray:
    """The photo (or its `box`, upright pixels x, y, width, height) as a THUMB_SIDE^2 grey
    vector of zero mean and unit variance: blind to resizing, squashing and JPEG re-encoding."""
    with Image.open(path) as image:
        width = image.size[0]
        image.draft("L", (THUMB_SIDE * 8, THUMB_SIDE * 8))  # JPEG: decode at a reduced scale
        scale = image.size[0] / width  # the same on both axes, so also after transposing
        upright = ImageOps.exif_transpose(image).convert("L")
    if box is not None:
        upright = crop_box(upright, box, scale=scale)
    pixels = np.asarray(
        upright.resize((THUMB_SIDE, THUMB_SIDE), Image.Resampling.BOX), np.float32
    ).ravel()
    return (pixels - pixels.mean()) / (pixels.std() + 1e-6)


@dataclass
class HoldOut:
    """What must not be trained on: file digests and thumbnails of the held-out photos (and of
    their bird boxes)."""

    photos: int
    keys: set[str]
    thumbnails: np.ndarray  # [m, THUMB_SIDE^2]

    def matches(self, paths: list[Path]) -> np.ndarray:
        """Which of `paths` are a held-out photo or a copy or crop of one (bool [len(paths)])."""
        if not paths or not self.photos:
            return np.zeros(len(paths), bool)
        with ThreadPoolExecutor(os.cpu_count() or 1) as pool:
            keys = list(pool.map(file_key, paths))
            thumbs = np.stack(list(pool.map(thumbnail, paths)))
        same = np.array([k in self.keys for k in keys])
        # |a - b|^2 / d for unit-variance vectors of length d: 2 - 2 * correlation
        distance = 2 - 2 * (thumbs @ self.thumbnails.T) / thumbs.shape[1]
        return same | (distance.min(axis=1) < SAME_PHOTO_DISTANCE)


def read_hold_out(folders: list[Path]) -> HoldOut:
    """Every photo of `folders` (any layout `ml.data.read_dataset` reads), with its box region
    too where the folder (or, for a split folder, its parent) has a `boxes.csv`."""
    paths, boxed = [], []
    for folder in folders:
        dataset = read_dataset(folder)
        found = [s.path for split in dataset.splits.values() for s in split]
        paths += found
        # a field folder's boxes.csv lies beside its split folders
        for root in (Path(folder), Path(folder).parent):
            if (root / BOXES_CSV).is_file():
                boxes = read_boxes(root)
                boxed += [(p, boxes[p.resolve()].as_tuple()) for p in found if p.resolve() in boxes]
                break
    with ThreadPoolExecutor(os.cpu_count() or 1) as pool:
        keys = set(pool.map(file_key, paths))
        thumbs = list(pool.map(thumbnail, paths)) + list(
            pool.map(lambda item: thumbnail(*item), boxed)
        )
    side = THUMB_SIDE * THUMB_SIDE
    return HoldOut(
        len(paths),
        keys,
        np.stack(thumbs) if thumbs else np.zeros((0, side), np.float32),
    )
