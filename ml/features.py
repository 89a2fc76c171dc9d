"""Backbone features of photos (pooled features, ImageNet bird mass, bird evidence map) for a few
augmented views, computed with LiteRT and cached on disk.

A crop policy says which part of each photo the views are made from: `full` (the whole frame,
squashed to a square) or a finder policy (`ml.finder.Finder.policy_id`: the square the
finder chose from the full view's bird map, or the full view when the bird is large).

Cache layout: `<cache>/<backbone id>/<policy>/view<k>/<shard>.npz`, each shard holding `keys`
(sha256 of the image file bytes), `pooled` (float16 [n,1280]), `bird` (float32 [n]) and
`bird_map` (float16 [n,7,7]). Shards are only ever added (written atomically), so concurrent
runs and interrupted runs are safe.
"""

from __future__ import annotations

import hashlib
import os
import queue
import time
import uuid
from collections import deque
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from PIL import Image, ImageEnhance

from ml import console
from ml.backbone import ensure_backbone
from ml.config import features_dir
from ml.constants import BIRD_MAP_SIDE, FEATURES
from ml.finder import Finder
from ml.imagenet import bird_mass
from ml.images import ImageRejected, load_photo, view_pixels
from ml.litert import LiteRTModel

FULL_POLICY = "full"
SHARD_IMAGES = 4096  # flush the cache every so many new images: an interrupted run keeps them


@dataclass
class Features:
    """Features of the photos that could be read; `kept[i]` is the input index of row i."""

    pooled: np.ndarray  # float32 [n, views, 1280]
    bird: np.ndarray  # float32 [n, views]
    bird_map: np.ndarray  # float32 [n, 7, 7] of the full view (what the finder reads)
    full_bird: np.ndarray  # float32 [n]: bird mass of the full view (what "no bird" reads)
    kept: list[int]
    skipped: list[tuple[str, str]] = field(default_factory=list)
    extracted: int = 0  # image-views computed (cache misses)
    seconds: float = 0.0


def augment(rgb: np.ndarray, *, view: int, key: str) -> np.ndarray:
    """View `view` of a 224x224 photo: 0 plain, 1 mirrored, 2 centre zoom, 3 mirrored centre zoom,
    then random crops / mirror / colour jitter, deterministic for (view, image)."""
    if view == 0:
        return rgb
    if view == 1:
        return rgb[:, ::-1]
    size = rgb.shape[0]
    image = Image.fromarray(rgb)
    if view in (2, 3):
        margin = round(size * 0.1)
        image = image.crop((margin, margin, size - margin, size - margin))
        if view == 3:
            image = image.transpose(Image.Transpose.FLIP_LEFT_RIGHT)
        return np.asarray(image.resize((size, size), Image.Resampling.BILINEAR))
    rng = np.random.default_rng([view, int(key[:12], 16)])
    side = round(size * rng.uniform(0.65, 0.95))
    left, top = rng.integers(0, size - side + 1, 2)
    image = image.crop((left, top, left + side, top + side)).resize(
        (size, size), Image.Resampling.BILINEAR
    )
    if rng.random() < 0.5:
        image = image.transpose(Image.Transpose.FLIP_LEFT_RIGHT)
    image = ImageEnhance.Brightness(image).enhance(rng.uniform(0.8, 1.2))
    image = ImageEnhance.Contrast(image).enhance(rng.uniform(0.8, 1.2))
    image = ImageEnhance.Color(image).enhance(rng.uniform(0.7, 1.3))
    return np.asarray(image)


def file_key(path: str | os.PathLike) -> str:
    """Cache key of a photo: sha256 of its bytes (renames and copies hit the cache)."""
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def backbone_id(tflite: str | os.PathLike, kind: str = "lite0") -> str:
    """Kind plus a short content hash: a rebuilt backbone never reuses stale features."""
    return f"{kind}-{hashlib.sha256(Path(tflite).read_bytes()).hexdigest()[:12]}"


def policy_name(finder: Finder | None) -> str:
    """The cache folder of a crop policy."""
    return FULL_POLICY if finder is None else finder.policy_id


class FeatureCache:
    """Append-only shard store for one backbone and crop policy; each view's shards load once."""

    def __init__(self, root: Path, backbone: str, policy: str = FULL_POLICY) -> None:
        self.root = root / backbone / policy
        self._views: dict[int, tuple[dict[str, int], np.ndarray, np.ndarray, np.ndarray]] = {}

    def view(self, view: int) -> tuple[dict[str, int], np.ndarray, np.ndarray, np.ndarray]:
        """(key -> row, pooled, bird, bird_map) of everything cached for `view`."""
        if view not in self._views:
            keys, pooled, bird, maps = [], [], [], []
            for shard in sorted((self.root / f"view{view}").glob("*.npz")):
                with np.load(shard) as data:
                    keys += [k.decode() for k in data["keys"]]
                    pooled.append(data["pooled"])
                    bird.append(data["bird"])
                    maps.append(data["bird_map"])
            index = {k: i for i, k in enumerate(keys)}
            self._views[view] = (
                index,
                np.concatenate(pooled) if pooled else np.zeros((0, FEATURES), np.float16),
                np.concatenate(bird) if bird else np.zeros((0,), np.float32),
                np.concatenate(maps) if maps else np.zeros((0, *_MAP_SHAPE), np.float16),
            )
        return self._views[view]

    def add(
        self, view: int, *, keys: list[str], pooled: np.ndarray, bird: np.ndarray, maps: np.ndarray
    ) -> None:
        """Write one new shard atomically and make it visible to lookups."""
        if not keys:
            return
        folder = self.root / f"view{view}"
        folder.mkdir(parents=True, exist_ok=True)
        name = f"{time.strftime('%Y%m%d%H%M%S')}-{uuid.uuid4().hex[:8]}.npz"
        tmp = folder / f".{name}.partial"  # not "*.npz": readers in other processes glob that
        with open(tmp, "wb") as handle:
            np.savez(
                handle,
                keys=np.array([k.encode() for k in keys]),
                pooled=pooled.astype(np.float16),
                bird=bird.astype(np.float32),
                bird_map=maps.astype(np.float16),
            )
        os.replace(tmp, folder / name)
        self._views.pop(view, None)


_MAP_SHAPE = (BIRD_MAP_SIDE, BIRD_MAP_SIDE)


class Extractor:
    """The LiteRT backbone: uint8 pixel batches -> (pooled float32 [n,1280], bird mass [n],
    bird evidence map [n,7,7]).

    It holds `workers` interpreters of `num_threads` threads each (default: one single-threaded
    interpreter per core). LiteRT releases the GIL in `invoke()`, so `extract` runs one decoding
    + inference thread per interpreter: on 2 cores ~1.8x the throughput of one 2-thread
    interpreter. Images go through one at a time: the batch dimension never changes, so the
    interpreter never re-allocates its tensors (resizing on every call is what made batches look
    slow), and a single image per call is as fast per image as a fixed batch.
    """

    def __init__(
        self,
        tflite: str | os.PathLike,
        kind: str = "lite0",
        num_threads: int | None = None,
        workers: int | None = None,
    ) -> None:
        self.id = backbone_id(tflite, kind)
        self.workers = max(1, workers or os.cpu_count() or 1)
        self.num_threads = num_threads or 1
        self.models = [
            LiteRTModel(tflite, num_threads=self.num_threads) for _ in range(self.workers)
        ]
        self.model = self.models[0]
        self._free: queue.SimpleQueue = queue.SimpleQueue()
        for model in self.models:
            self._free.put(model)

    def __call__(self, pixels: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Thread-safe: each call borrows a free interpreter (concurrent calls run in parallel)."""
        model = self._free.get()
        try:
            outputs = [model.run(row[None].astype(np.float32)) for row in pixels]
        finally:
            self._free.put(model)
        pooled = np.concatenate([o[0] for o in outputs])
        logits = np.concatenate([o[1] for o in outputs])
        maps = np.concatenate([o[2] for o in outputs])
        return pooled, bird_mass(logits).astype(np.float32), maps


def default_extractor(kind: str = "lite0") -> Extractor:
    """The project backbone, converted on first use (see ml.backbone)."""
    return Extractor(ensure_backbone(kind).tflite, kind)


def extract(
    paths: list[Path],
    *,
    views: int = 1,
    extractor: Extractor | None = None,
    cache_dir: Path | None = None,
    progress: bool = True,
    finder: Finder | None = None,
) -> Features:
    """Features of views 0..views-1 of every photo under a crop policy (`finder`; None: the full
    frame), from the cache or computed; unreadable photos (not an image, truncated, too large,
    missing) are skipped and listed in `skipped`. `bird_map` is always the full view's."""
    started = time.perf_counter()
    extractor = extractor or default_extractor()
    root = cache_dir or features_dir()
    full = FeatureCache(root, extractor.id)
    cache = FeatureCache(root, extractor.id, policy_name(finder)) if finder else full
    with ThreadPoolExecutor(4) as pool:
        keys = list(pool.map(_safe_key, paths))
    skipped = [(str(p), k[1]) for p, k in zip(paths, keys, strict=True) if isinstance(k, tuple)]
    todo = {
        i
        for i, k in enumerate(keys)
        if isinstance(k, str)
        and (k not in full.view(0)[0] or any(k not in cache.view(v)[0] for v in range(views)))
    }
    job = _Job(paths, keys, views, extractor, full, cache, finder)
    extracted, rejected = _compute(job, sorted(todo), progress)
    skipped += [(str(paths[i]), reason) for i, reason in rejected.items()]
    kept = [i for i, k in enumerate(keys) if isinstance(k, str) and i not in rejected]
    pooled = np.zeros((len(kept), views, FEATURES), np.float32)
    bird = np.zeros((len(kept), views), np.float32)
    for v in range(views):
        index, view_pooled, view_bird, _ = cache.view(v)
        rows = [index[keys[i]] for i in kept]
        pooled[:, v] = view_pooled[rows]
        bird[:, v] = view_bird[rows]
    index, _, full_bird, full_maps = full.view(0)
    rows = [index[keys[i]] for i in kept]
    maps = full_maps[rows].astype(np.float32).reshape(len(kept), *_MAP_SHAPE)
    return Features(
        pooled,
        bird,
        maps,
        full_bird[rows].astype(np.float32),
        kept,
        skipped,
        extracted,
        time.perf_counter() - started,
    )


def _safe_key(path: Path) -> str | tuple[str, str]:
    try:
        return file_key(path)
    except OSError as exc:
        return ("error", f"cannot read file: {exc.strerror or exc}")


@dataclass
class _Job:
    """What one `extract` call computes: the photos, the policy and the two caches it fills."""

    paths: list[Path]
    keys: list
    views: int
    extractor: Extractor
    full: FeatureCache  # the full view (view 0 holds the bird map the finder reads)
    cache: FeatureCache  # the policy's views (the same object as `full` without a finder)
    finder: Finder | None

    def missing(self, i: int) -> list[int]:
        return [v for v in range(self.views) if self.keys[i] not in self.cache.view(v)[0]]

    def run(self, i: int) -> tuple[tuple | None, tuple | None, int, str]:
        """(full view 0 outputs if not cached, the policy's missing views' outputs, image-views
        computed, reason): decode once, run the full view when its map is needed (its outputs
        serve as view 0 when the policy keeps the full frame), then the views of the crop."""
        key = self.keys[i]
        try:
            photo = load_photo(self.paths[i])
        except (ImageRejected, OSError) as exc:
            return None, None, 0, str(exc)
        whole = view_pixels(photo.image)
        index, cached_pooled, _, maps = self.full.view(0)
        full_out = None
        if key in index:
            pooled = cached_pooled[index[key]].astype(np.float32)
            bird_map = maps[index[key]].astype(np.float32)
        else:
            full_out = self.extractor(whole[None])
            pooled, bird_map = full_out[0][0], full_out[2][0]
        base = whole
        if self.finder is not None:
            width, height = photo.image.size
            plan = self.finder.plan(bird_map, pooled, width=width, height=height)
            if plan.crop is not None:
                base = view_pixels(photo.image, box=plan.crop.as_tuple())
        wanted = self.missing(i)
        reuse = base is whole and full_out is not None and wanted[:1] == [0]
        todo = wanted[1:] if reuse else wanted
        out = self.extractor(_views(base, todo, key)) if todo else None
        if reuse:
            out = _stack(full_out, out) if out is not None else full_out
        return full_out, out, len(todo) + (full_out is not None), ""


def _views(base: np.ndarray, views: list[int], key: str) -> np.ndarray:
    return np.stack([augment(base, view=v, key=key) for v in views])


def _stack(first: tuple, rest: tuple) -> tuple:
    return tuple(np.concatenate([a, b]) for a, b in zip(first, rest, strict=True))


def _compute(job: _Job, todo: list[int], progress: bool) -> tuple[int, dict[int, str]]:
    """Decode and run the backbone on cache misses in one thread per interpreter; flush shards
    as they fill."""
    if not todo:
        return 0, {}
    missing = {i: job.missing(i) for i in todo}
    rejected: dict[int, str] = {}
    pending: dict[tuple[int, int], tuple[list, list, list, list]] = {}
    caches = (job.full, job.cache)
    extracted = 0
    bar = console.progress(total=len(todo), desc="features", unit="img", disable=not progress)

    def work(i: int) -> tuple[int, tuple | None, tuple | None, int, str]:
        """Decode and run the backbone in the same worker thread (one per interpreter)."""
        return i, *job.run(i)

    def keep(which: int, view: int, key: str, out: tuple, row: int) -> None:
        entry = pending.setdefault((which, view), ([], [], [], []))
        for column, values in zip(entry, (key, *(o[row] for o in out)), strict=True):
            column.append(values)

    workers = getattr(job.extractor, "workers", 1)  # stand-in backbones: one thread
    with ThreadPoolExecutor(workers) as pool:
        for i, full_out, out, computed, reason in _ordered(pool, work, todo, 8 * workers):
            bar.update()
            if reason:
                rejected[i] = reason
                continue
            if full_out is not None and caches[0] is not caches[1]:
                keep(0, 0, job.keys[i], full_out, 0)
            for row, v in enumerate(missing[i] if out is not None else []):
                keep(1, v, job.keys[i], out, row)
            extracted += computed
            if max((len(e[0]) for e in pending.values()), default=0) >= SHARD_IMAGES:
                _flush(caches, pending)
    _flush(caches, pending)
    bar.close()
    return extracted, rejected


def _ordered(pool: ThreadPoolExecutor, fn, items: list, window: int):
    """`pool.map(fn, items)` with at most `window` tasks in flight (bounded memory)."""
    pending = deque()
    for item in items:
        pending.append(pool.submit(fn, item))
        if len(pending) >= window:
            yield pending.popleft().result()
    while pending:
        yield pending.popleft().result()


def _flush(caches: tuple[FeatureCache, FeatureCache], pending: dict) -> None:
    for (which, view), (keys, pooled, bird, maps) in pending.items():
        caches[which].add(
            view, keys=keys, pooled=np.stack(pooled), bird=np.array(bird), maps=np.stack(maps)
        )
    pending.clear()
