"""Backbone features of photos (pooled features + ImageNet bird mass) for a few augmented views,
computed with LiteRT and cached on disk.

Cache layout: `<cache>/<backbone id>/view<k>/<shard>.npz`, each shard holding `keys` (sha256 of
the image file bytes), `pooled` (float16 [n,1280]) and `bird` (float32 [n]). Shards are only ever
added (written atomically), so concurrent runs and interrupted runs are safe.
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
from tqdm import tqdm

from ml.config import features_dir
from ml.imagenet import bird_mass
from ml.images import ImageRejected, load_rgb

FEATURES = 1280
SHARD_IMAGES = 4096  # flush the cache every so many new images: an interrupted run keeps them


@dataclass
class Features:
    """Features of the photos that could be read; `kept[i]` is the input index of row i."""

    pooled: np.ndarray  # float32 [n, views, 1280]
    bird: np.ndarray  # float32 [n, views]
    kept: list[int]
    skipped: list[tuple[str, str]] = field(default_factory=list)
    extracted: int = 0  # image-views computed (cache misses)
    seconds: float = 0.0


def augment(rgb: np.ndarray, view: int, key: str) -> np.ndarray:
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


class FeatureCache:
    """Append-only shard store for one backbone; lookups load each view's shards once."""

    def __init__(self, root: Path, backbone: str) -> None:
        self.root = root / backbone
        self._views: dict[int, tuple[dict[str, int], np.ndarray, np.ndarray]] = {}

    def view(self, view: int) -> tuple[dict[str, int], np.ndarray, np.ndarray]:
        """(key -> row, pooled, bird) of everything cached for `view`."""
        if view not in self._views:
            keys, pooled, bird = [], [], []
            for shard in sorted((self.root / f"view{view}").glob("*.npz")):
                with np.load(shard) as data:
                    keys += [k.decode() for k in data["keys"]]
                    pooled.append(data["pooled"])
                    bird.append(data["bird"])
            index = {k: i for i, k in enumerate(keys)}
            pooled_all = np.concatenate(pooled) if pooled else np.zeros((0, FEATURES), np.float16)
            bird_all = np.concatenate(bird) if bird else np.zeros((0,), np.float32)
            self._views[view] = (index, pooled_all, bird_all)
        return self._views[view]

    def add(self, view: int, keys: list[str], pooled: np.ndarray, bird: np.ndarray) -> None:
        """Write one new shard atomically and make it visible to lookups."""
        if not keys:
            return
        folder = self.root / f"view{view}"
        folder.mkdir(parents=True, exist_ok=True)
        name = f"{time.strftime('%Y%m%d%H%M%S')}-{uuid.uuid4().hex[:8]}.npz"
        tmp = folder / f".{name}"
        with open(tmp, "wb") as handle:
            np.savez(
                handle,
                keys=np.array([k.encode() for k in keys]),
                pooled=pooled.astype(np.float16),
                bird=bird.astype(np.float32),
            )
        os.replace(tmp, folder / name)
        self._views.pop(view, None)


class Extractor:
    """The LiteRT backbone: uint8 pixel batches -> (pooled float32 [n,1280], bird mass [n]).

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
        from ml.litert import LiteRTModel

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

    def __call__(self, pixels: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Thread-safe: each call borrows a free interpreter (concurrent calls run in parallel)."""
        model = self._free.get()
        try:
            outputs = [model.run(row[None].astype(np.float32)) for row in pixels]
        finally:
            self._free.put(model)
        pooled = np.concatenate([o[0] for o in outputs])
        logits = np.concatenate([o[1] for o in outputs])
        return pooled, bird_mass(logits).astype(np.float32)


def default_extractor(kind: str = "lite0") -> Extractor:
    """The project backbone, converted on first use (see ml.backbone)."""
    from ml.backbone import ensure_backbone

    return Extractor(ensure_backbone(kind).tflite, kind)


def extract(
    paths: list[Path],
    views: int = 1,
    extractor: Extractor | None = None,
    cache_dir: Path | None = None,
    progress: bool = True,
) -> Features:
    """Features of views 0..views-1 of every photo, from the cache or computed; unreadable photos
    (not an image, truncated, too large, missing) are skipped and listed in `skipped`."""
    started = time.perf_counter()
    extractor = extractor or default_extractor()
    cache = FeatureCache(cache_dir or features_dir(), extractor.id)
    with ThreadPoolExecutor(4) as pool:
        keys = list(pool.map(_safe_key, paths))
    skipped = [(str(p), k[1]) for p, k in zip(paths, keys, strict=True) if isinstance(k, tuple)]
    todo = {
        i
        for i, k in enumerate(keys)
        if isinstance(k, str) and any(k not in cache.view(v)[0] for v in range(views))
    }
    extracted, rejected = _compute(paths, keys, sorted(todo), views, extractor, cache, progress)
    skipped += [(str(paths[i]), reason) for i, reason in rejected.items()]
    kept = [i for i, k in enumerate(keys) if isinstance(k, str) and i not in rejected]
    pooled = np.zeros((len(kept), views, FEATURES), np.float32)
    bird = np.zeros((len(kept), views), np.float32)
    for v in range(views):
        index, view_pooled, view_bird = cache.view(v)
        rows = [index[keys[i]] for i in kept]
        pooled[:, v] = view_pooled[rows]
        bird[:, v] = view_bird[rows]
    return Features(pooled, bird, kept, skipped, extracted, time.perf_counter() - started)


def _safe_key(path: Path) -> str | tuple[str, str]:
    try:
        return file_key(path)
    except OSError as exc:
        return ("error", f"cannot read file: {exc.strerror or exc}")


def _decode(path: Path, key: str, views: list[int]) -> tuple[np.ndarray | None, str]:
    try:
        rgb = load_rgb(path)
    except (ImageRejected, OSError) as exc:
        return None, str(exc)
    return np.stack([augment(rgb, v, key) for v in views]), ""


def _compute(
    paths: list[Path],
    keys: list,
    todo: list[int],
    views: int,
    extractor: Extractor,
    cache: FeatureCache,
    progress: bool,
) -> tuple[int, dict[int, str]]:
    """Decode and run the backbone on cache misses in one thread per interpreter; flush shards
    as they fill."""
    if not todo:
        return 0, {}
    missing = {i: [v for v in range(views) if keys[i] not in cache.view(v)[0]] for i in todo}
    rejected: dict[int, str] = {}
    pending: dict[int, tuple[list[str], list[np.ndarray], list[np.ndarray]]] = {}
    extracted = 0
    bar = tqdm(total=len(todo), desc="features", unit="img", disable=not progress, smoothing=0.1)

    def work(i: int) -> tuple[int, tuple | None, str]:
        """Decode and run the backbone in the same worker thread (one per interpreter)."""
        pixels, reason = _decode(paths[i], keys[i], missing[i])
        return i, (None if pixels is None else extractor(pixels)), reason

    workers = getattr(extractor, "workers", 1)  # stand-in backbones: one thread
    with ThreadPoolExecutor(workers) as pool:
        for i, out, reason in _ordered(pool, work, todo, window=8 * workers):
            bar.update()
            if out is None:
                rejected[i] = reason
                continue
            pooled, bird = out
            for row, v in enumerate(missing[i]):
                entry = pending.setdefault(v, ([], [], []))
                entry[0].append(keys[i])
                entry[1].append(pooled[row])
                entry[2].append(bird[row])
            extracted += len(missing[i])
            if max((len(e[0]) for e in pending.values()), default=0) >= SHARD_IMAGES:
                _flush(cache, pending)
    _flush(cache, pending)
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


def _flush(cache: FeatureCache, pending: dict) -> None:
    for view, (keys, pooled, bird) in pending.items():
        cache.add(view, keys, np.stack(pooled), np.array(bird))
    pending.clear()
