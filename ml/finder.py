"""The bird finder: where in the frame the bird is, and which square of the photo to classify.

The backbone's first pass over the whole frame (the full view) already yields a coarse map of
ImageNet bird-class evidence (`ml.constants.BIRD_MAP_SIDE` cells a side). The finder
turns that map into a tight box around the bird, then into a square crop of the upright photo
(so the bird is not squashed from 4:3 to a square). The second pass over the crop is only worth
its cost when the bird is small in the frame; when it runs, its answer is blended with the full
view's. Pure functions of numpy arrays: serving, training and evaluation all call them.
"""

from __future__ import annotations

import dataclasses
import hashlib
import heapq
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

MIN_BOX_PIXELS = 16  # a crop box is never smaller than this many pixels per side


@dataclass(frozen=True)
class Box:
    """A rectangle in pixels of the upright photo: left, top, width, height."""

    x: float
    y: float
    width: float
    height: float

    @property
    def area(self) -> float:
        return max(self.width, 0.0) * max(self.height, 0.0)

    def iou(self, other: Box) -> float:
        """Intersection over union with another box."""
        left, top = max(self.x, other.x), max(self.y, other.y)
        right = min(self.x + self.width, other.x + other.width)
        bottom = min(self.y + self.height, other.y + other.height)
        inter = max(right - left, 0.0) * max(bottom - top, 0.0)
        union = self.area + other.area - inter
        return inter / union if union > 0 else 0.0

    def scaled(self, factor: float) -> Box:
        """The same region in an image `factor` times as large per side."""
        return Box(self.x * factor, self.y * factor, self.width * factor, self.height * factor)

    def as_tuple(self) -> tuple[float, float, float, float]:
        return (self.x, self.y, self.width, self.height)

    def rounded(self) -> tuple[int, int, int, int]:
        """Whole pixels (x, y, width, height), as the API shows a box."""
        return (round(self.x), round(self.y), round(self.width), round(self.height))


@dataclass(frozen=True)
class FinderParams:
    """How a bird map becomes a crop; part of the feature cache key (see `policy_id`).

    Chosen by `tune_finder` on `field/train` (docs/architecture.md has the figures).
    """

    # without a box regressor: map cells at or above this fraction of the way from the map's
    # minimum to its peak are bird (0.4 found the most boxes on field/train)
    threshold: float = 0.4
    # the square's side is the tight box's longer side times (1 + margin)
    margin: float = 0.0
    # the crop pass runs only when the square is smaller than this fraction of the short side
    crop_below: float = 0.7
    # weight of the crop's log-probabilities against the full view's when both ran
    crop_weight: float = 1.0
    # with a ramp, the weight fades to 0 over the last `crop_ramp` (share of the short side)
    # below `crop_below`, so a box that moves a little never flips the answer; on field/train
    # no ramp scored higher (top-1 0.591 against 0.583 with 0.1)
    crop_ramp: float = 0.0

    def __post_init__(self) -> None:
        if not 0 < self.threshold < 1:
            raise ValueError("threshold must be in (0, 1)")
        if self.margin < 0:
            raise ValueError("margin must be at least 0")
        if not 0 < self.crop_below <= 1:
            raise ValueError("crop_below must be in (0, 1]")
        if not 0 < self.crop_weight <= 1:
            raise ValueError("crop_weight must be in (0, 1]")
        if not 0 <= self.crop_ramp < self.crop_below:
            raise ValueError("crop_ramp must be in [0, crop_below)")

    def weight_for(self, side_share: float) -> float:
        """The crop's blend weight for a square of this share of the short side (0: no pass)."""
        if side_share >= self.crop_below:
            return 0.0
        if self.crop_ramp == 0:
            return self.crop_weight
        return self.crop_weight * min((self.crop_below - side_share) / self.crop_ramp, 1.0)

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


def load_finder_params(values: dict[str, Any]) -> FinderParams:
    """FinderParams from a dict; unknown keys are an error."""
    known = {f.name for f in dataclasses.fields(FinderParams)}
    unknown = sorted(set(values) - known)
    if unknown:
        raise ValueError(f"unknown finder parameters: {', '.join(unknown)}")
    return FinderParams(**values)


def _levels_from_peak(cells: np.ndarray) -> np.ndarray:
    """For every cell, the highest level at which it is still 4-connected to the map's peak
    (the best path's lowest value), by a priority flood from the peak. The region at any
    threshold is then one comparison, so the regressor's five thresholds cost one flood. At
    7 x 7 a plain Python loop beats array passes."""
    rows, cols = cells.shape
    values = cells.tolist()
    peak = divmod(int(np.argmax(cells)), cols)
    level = np.full(cells.shape, -np.inf)
    heap = [(-values[peak[0]][peak[1]], peak)]
    while heap:
        negative, (y, x) = heapq.heappop(heap)
        if level[y, x] != -np.inf:
            continue
        level[y, x] = -negative
        for ny, nx in ((y - 1, x), (y + 1, x), (y, x - 1), (y, x + 1)):
            if 0 <= ny < rows and 0 <= nx < cols and level[ny, nx] == -np.inf:
                heapq.heappush(heap, (max(negative, -values[ny][nx]), (ny, nx)))
    return level


@dataclass(frozen=True)
class _MapRegions:
    """A bird map with its levels from the peak: boxes at any threshold.

    Thresholded at the map's own 7x7 cells: bilinear upsampling 2x or 4x first found no more
    boxes with the regressor (IoU >= 0.5 on field/valid: 0.824, 0.828, 0.831) and cost up to
    3x the CPU."""

    levels: np.ndarray
    low: float
    high: float

    @classmethod
    def of(cls, bird_map: np.ndarray) -> _MapRegions:
        cells = np.asarray(bird_map, np.float64)
        return cls(_levels_from_peak(cells), float(cells.min()), float(cells.max()))

    def box(self, threshold: float, width: float, height: float) -> Box:
        """The box of the region around the peak at `threshold` of the map's range."""
        if not self.high > self.low:  # a flat map says nothing: the whole frame
            return Box(0.0, 0.0, float(width), float(height))
        inside = self.levels >= self.low + threshold * (self.high - self.low)
        rows = np.flatnonzero(inside.any(axis=1))
        cols = np.flatnonzero(inside.any(axis=0))
        cells_y, cells_x = self.levels.shape
        return Box(
            cols[0] / cells_x * width,
            rows[0] / cells_y * height,
            (cols[-1] + 1 - cols[0]) / cells_x * width,
            (rows[-1] + 1 - rows[0]) / cells_y * height,
        )


def tight_box(bird_map: np.ndarray, *, width: int, height: int, params: FinderParams) -> Box:
    """The box around the strongest bird evidence, in pixels of a `width` x `height` photo.

    The map covers the whole frame (the full view squashes the photo to a square), so map
    coordinates scale to the photo's axes independently.
    """
    return _MapRegions.of(bird_map).box(params.threshold, width, height)


def square_around(box: Box, *, width: int, height: int, margin: float) -> Box:
    """The square centred on `box` with side (longer side x (1 + margin)), moved inside the
    photo; never larger than the photo's short side nor smaller than `MIN_BOX_PIXELS`."""
    short = min(width, height)
    side = min(max(max(box.width, box.height) * (1 + margin), MIN_BOX_PIXELS), short)
    cx, cy = box.x + box.width / 2, box.y + box.height / 2
    left = min(max(cx - side / 2, 0.0), width - side)
    top = min(max(cy - side / 2, 0.0), height - side)
    return Box(left, top, side, side)


@dataclass(frozen=True)
class CropPlan:
    """What the finder decided for one photo."""

    found: Box  # the tight box around the bird evidence
    crop: Box | None  # the square to classify in a second pass; None: the full view suffices
    weight: float = 0.0  # the crop's blend weight (`FinderParams.weight_for`)


def blend_probabilities(full: np.ndarray, crop: np.ndarray, *, crop_weight: float) -> np.ndarray:
    """Weighted geometric mean of two probability vectors, renormalised (= a weighted mean of
    the calibrated logits, so the temperature keeps its meaning)."""
    eps = 1e-12
    log = (1 - crop_weight) * np.log(full + eps) + crop_weight * np.log(crop + eps)
    log -= log.max(axis=-1, keepdims=True)
    out = np.exp(log)
    return out / out.sum(axis=-1, keepdims=True)


# --- the box regressor ------------------------------------------------------------------------

REGRESSOR_THRESHOLDS = (0.2, 0.3, 0.4, 0.5, 0.6)  # map boxes the regressor starts from


def box_features(
    bird_map: np.ndarray, pooled: np.ndarray, *, width: int, height: int
) -> np.ndarray:
    """What the box regressor reads, all from the full view's pass: the map's boxes at several
    thresholds (centre, log size, relative to the frame), the pooled features (signed square
    root, unit length: what the scene looks like) and the frame's aspect ratio."""
    regions = _MapRegions.of(bird_map)
    boxes = []
    for threshold in REGRESSOR_THRESHOLDS:
        b = regions.box(threshold, 1.0, 1.0)
        boxes += [b.x + b.width / 2, b.y + b.height / 2, np.log(b.width), np.log(b.height)]
    rooted = np.sign(pooled) * np.sqrt(np.abs(pooled))
    rooted = rooted / max(float(np.linalg.norm(rooted)), 1e-12)
    return np.concatenate([np.asarray(boxes), rooted, [width / height]]).astype(np.float64)


def box_target(box: Box, *, width: int, height: int) -> np.ndarray:
    """A box as the regressor predicts it: centre and log size relative to the frame."""
    w, h = box.width / width, box.height / height
    return np.array([box.x / width + w / 2, box.y / height + h / 2, np.log(w), np.log(h)])


@dataclass(frozen=True)
class BoxRegressor:
    """Ridge regression from `box_features` to `box_target` (fit on `field/train` boxes)."""

    coef: np.ndarray  # [features, 4]
    x_mean: np.ndarray  # [features]
    y_mean: np.ndarray  # [4]

    def predict(self, bird_map: np.ndarray, pooled: np.ndarray, *, width: int, height: int) -> Box:
        x = box_features(bird_map, pooled, width=width, height=height)
        cx, cy, log_w, log_h = (x - self.x_mean) @ self.coef + self.y_mean
        w, h = min(float(np.exp(log_w)), 1.0) * width, min(float(np.exp(log_h)), 1.0) * height
        left = min(max(cx * width - w / 2, 0.0), width - w)
        top = min(max(cy * height - h / 2, 0.0), height - h)
        return Box(left, top, w, h)


def fit_box_regressor(features: np.ndarray, targets: np.ndarray, *, alpha: float) -> BoxRegressor:
    """Closed-form ridge regression (centred, so the intercept is not penalised)."""
    x_mean, y_mean = features.mean(axis=0), targets.mean(axis=0)
    x, y = features - x_mean, targets - y_mean
    coef = np.linalg.solve(x.T @ x + alpha * np.eye(x.shape[1]), x.T @ y)
    return BoxRegressor(coef, x_mean, y_mean)


# --- the finder: parameters + regressor, its files and its decisions ---------------------------

FINDER_FILE = "finder.json"  # the FinderParams, and whether a regressor goes with them
REGRESSOR_FILE = "finder_boxes.npz"  # the BoxRegressor's arrays


@dataclass(frozen=True)
class Finder:
    """How the finder decides; lives in a model directory (what serving uses) and in the data
    dir's `finder/` folder (what `fit_finder` made, for training the next model)."""

    params: FinderParams = FinderParams()
    regressor: BoxRegressor | None = None

    @property
    def policy_id(self) -> str:
        """Short hash of everything that shapes the crop views (the feature cache key)."""
        blend = ("crop_weight", "crop_ramp")  # how answers mix, not which pixels are cached
        crop = {k: v for k, v in self.params.to_dict().items() if k not in blend}
        digest = hashlib.sha256(json.dumps(crop, sort_keys=True).encode())
        if self.regressor is not None:
            for array in (self.regressor.coef, self.regressor.x_mean, self.regressor.y_mean):
                digest.update(np.ascontiguousarray(array, np.float64).tobytes())
        return f"finder-{digest.hexdigest()[:10]}"

    def locate(self, bird_map: np.ndarray, pooled: np.ndarray, *, width: int, height: int) -> Box:
        """The tight box around the bird in a `width` x `height` photo."""
        if self.regressor is not None:
            return self.regressor.predict(bird_map, pooled, width=width, height=height)
        return tight_box(bird_map, width=width, height=height, params=self.params)

    def plan(
        self, bird_map: np.ndarray, pooled: np.ndarray, *, width: int, height: int
    ) -> CropPlan:
        """Find the bird and decide whether a second pass on a square around it is worth it."""
        found = self.locate(bird_map, pooled, width=width, height=height)
        square = square_around(found, width=width, height=height, margin=self.params.margin)
        weight = self.params.weight_for(square.width / min(width, height))
        return CropPlan(found, square if weight > 0 else None, weight)

    def save(self, folder: Path) -> None:
        """Write `finder.json` (and the regressor's arrays) into `folder`."""
        folder = Path(folder)
        values = {**self.params.to_dict(), "box_regressor": self.regressor is not None}
        if self.regressor is not None:
            with open(folder / REGRESSOR_FILE, "wb") as handle:
                np.savez(handle, **dataclasses.asdict(self.regressor))
        (folder / FINDER_FILE).write_text(json.dumps(values, indent=2) + "\n")

    @classmethod
    def load(cls, folder: Path) -> Finder | None:
        """The finder saved in `folder`; None when there is none (a model made before it)."""
        path = Path(folder) / FINDER_FILE
        if not path.is_file():
            return None
        values = json.loads(path.read_text())
        regressor = None
        if values.pop("box_regressor", False):
            with np.load(Path(folder) / REGRESSOR_FILE) as arrays:
                regressor = BoxRegressor(**{k: arrays[k] for k in arrays.files})
        return cls(load_finder_params(values), regressor)
