"""Training a classifier head on cached backbone features, written as a model directory
(`ml.model_dir`: built beside its final place and renamed in whole, so a failed or interrupted
run leaves nothing behind).
"""

from __future__ import annotations

import os
import random
import time
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ml import calibration, console
from ml.backbone import feature_model
from ml.calibration import verdict_of
from ml.config import models_dir
from ml.data import Dataset, DatasetError, Sample
from ml.features import Extractor, Features, default_extractor, extract, policy_name
from ml.finder import Finder
from ml.imagenet import BIRD_CLASS_IDS, softmax
from ml.images import upright_size
from ml.metrics import classification_metrics, verdict_metrics
from ml.model import HeadParams, build_head, default_params_for, make_optimizer, serving_model
from ml.model_dir import MODEL_FILE, write_model_dir
from ml.sources import gather_sources

HOLD_OUT_EVERY = 5  # without a valid split, 1 photo in 5 of each species is held out


@dataclass
class Split:
    """Which photos train the head and which check it (early stopping and calibration)."""

    train: list[Sample]
    held: list[Sample]
    note: str
    held_from: str


@dataclass
class ServedViews:
    """Photos as serving sees them: the crop policy's views and, under a finder, the full views
    with each photo's crop weight (serving blends the two answers by it)."""

    x: np.ndarray  # [n, tta views, 1280]
    x_full: np.ndarray | None = None
    crop_weights: np.ndarray | None = None

    def rows(self, rows) -> ServedViews:
        """The same views of some of the photos."""
        return ServedViews(
            self.x[rows],
            None if self.x_full is None else self.x_full[rows],
            None if self.crop_weights is None else self.crop_weights[rows],
        )

    def logits(self, head) -> np.ndarray:
        """The photos' logits as serving computes them: the crop policy's views blended with
        the full views by each photo's crop weight (identical where the finder kept the full
        frame)."""
        logits = head_logits(head, self.x)
        if self.x_full is None:
            return logits
        weights = self.crop_weights[:, None]
        return weights * logits + (1 - weights) * head_logits(head, self.x_full)


@dataclass
class TrainingData:
    """Features and labels of both parts of a split, for the species kept."""

    species: list[str]
    x_train: np.ndarray  # [n, views, 1280]
    y_train: np.ndarray
    held: ServedViews  # test-time views of the held-out photos, as serving sees them
    y_held: np.ndarray
    bird_train: np.ndarray  # bird mass of the full view of the training photos
    bird_held: np.ndarray
    skipped: list[tuple[str, str]] = field(default_factory=list)
    # photos of birds outside the catalogue (never trained on): they choose the open-set rule
    unknown: ServedViews | None = None
    from_added: np.ndarray | None = None  # bool [n]: training photos from an added folder


def choose_split(dataset: Dataset, *, seed: int = 0, per_class: int | None = None) -> Split:
    """`train` trains and `valid` checks; with no `train`, the photos of the first split found
    are the pool and 1 in 5 of each species (at least one if it has two) is held out."""
    rng = random.Random(seed)
    if dataset.samples("train"):
        train = _cap(dataset.samples("train"), per_class, rng)
        if dataset.samples("valid"):
            return Split(
                train,
                dataset.samples("valid"),
                "early stopping and calibration on 'valid'",
                "valid",
            )
        pool_name, pool = "train", train
    else:
        pool_name = next(s for s in ("valid", "test") if dataset.samples(s))
        pool = dataset.samples(pool_name)
    train, held = [], []
    for name in dataset.species:
        photos = [s for s in pool if s.species == name]
        rng.shuffle(photos)
        n_held = len(photos) // HOLD_OUT_EVERY or (1 if len(photos) >= 2 else 0)
        held += photos[:n_held]
        train += photos[n_held:]
    train = _cap(train, per_class, rng)
    note = (
        f"no separate validation split: trained on '{pool_name}', holding out 1 photo in "
        f"{HOLD_OUT_EVERY} per species ({len(held)} photos) for early stopping and calibration"
    )
    return Split(train, held, note, f"{pool_name} (held out 1 in {HOLD_OUT_EVERY})")


def _cap(samples: list[Sample], per_class: int | None, rng: random.Random) -> list[Sample]:
    if per_class is None:
        return list(samples)
    by_species: dict[str, list[Sample]] = {}
    for s in samples:
        by_species.setdefault(s.species, []).append(s)
    return [
        s
        for name in sorted(by_species)
        for s in rng.sample(by_species[name], min(per_class, len(by_species[name])))
    ]


def training_data(
    split: Split,
    *,
    params: HeadParams,
    extractor: Extractor,
    cache_dir: Path | None = None,
    progress: bool = True,
    finder: Finder | None = None,
    added: Sequence[Sample] = (),
    unknown: Sequence[Sample] = (),
) -> TrainingData:
    """Features of every view of the training photos (`params.added_views` of each photo from
    an added folder) and of the test-time views of held-out and unknown-species ones, all under
    the crop policy `finder` (as serving crops), plus their full views."""
    train = extract(
        [s.path for s in split.train],
        views=params.train_views,
        extractor=extractor,
        cache_dir=cache_dir,
        progress=progress,
        finder=finder,
    )
    added_views = min(params.added_views, params.train_views)
    extra = extract(
        [s.path for s in added],
        views=added_views,
        extractor=extractor,
        cache_dir=cache_dir,
        progress=progress,
        finder=finder,
    )
    held, held_features = _served(split.held, params, extractor, cache_dir, progress, finder)
    train_samples = [split.train[i] for i in train.kept] + [added[i] for i in extra.kept]
    species = sorted({s.species for s in train_samples})
    if not species:
        raise DatasetError("No readable training photo: nothing to train on.")
    index = {name: i for i, name in enumerate(species)}
    held_rows = [r for r, i in enumerate(held_features.kept) if split.held[i].species in index]
    # an added photo's few views, repeated to the catalogue photos' number (drawn alike)
    repeat = np.arange(params.train_views) % added_views
    unknown_views, unknown_features = _served(
        list(unknown), params, extractor, cache_dir, progress, finder
    )
    return TrainingData(
        species=species,
        x_train=np.concatenate([train.pooled, extra.pooled[:, repeat]]),
        y_train=np.array([index[s.species] for s in train_samples], dtype=np.int64),
        held=held.rows(held_rows),
        y_held=np.array(
            [index[split.held[held_features.kept[r]].species] for r in held_rows], dtype=np.int64
        ),
        bird_train=np.concatenate([train.full_bird, extra.full_bird]),
        bird_held=held_features.full_bird[held_rows],
        skipped=train.skipped + extra.skipped + held_features.skipped + unknown_features.skipped,
        unknown=unknown_views if unknown else None,
        from_added=np.arange(len(train_samples)) >= len(train.kept),
    )


def _served(
    samples: list[Sample],
    params: HeadParams,
    extractor: Extractor,
    cache_dir: Path | None,
    progress: bool,
    finder: Finder | None,
) -> tuple[ServedViews, Features]:
    """(ServedViews, the policy's Features) of photos that are judged, not trained on."""
    paths = [s.path for s in samples]
    features = extract(
        paths,
        views=params.tta_views,
        extractor=extractor,
        cache_dir=cache_dir,
        progress=progress,
        finder=finder,
    )
    if finder is None:
        return ServedViews(features.pooled), features
    full = extract(
        paths, views=params.tta_views, extractor=extractor, cache_dir=cache_dir, progress=progress
    )
    return ServedViews(
        features.pooled, full.pooled, crop_weights_of(finder, full, samples=samples)
    ), features


def crop_weights_of(finder: Finder, full, *, samples: list[Sample]) -> np.ndarray:
    """Each photo's crop weight as serving computes it, from its cached full view."""
    sizes = (upright_size(samples[i].path) for i in full.kept)
    return np.array(
        [
            finder.plan(full.bird_map[r], full.pooled[r, 0], width=w, height=h).weight
            for r, (w, h) in enumerate(sizes)
        ]
    )


def fit_head(data: TrainingData, *, params: HeadParams, seed: int = 0, verbose: int | str = "auto"):
    """Train the head; early stopping on the held-out plain views.

    Each epoch shows every training photo `views_per_epoch` times, each time through one of its
    cached views drawn at random (views are augmentation): with 1, an epoch costs as much as one
    view, not all of them. The whole
    epoch runs in one traced TensorFlow function (no per-epoch Keras/tf.data overhead); the
    history has Keras' keys (`loss`, `accuracy`, `val_loss`, `val_accuracy`). Each photo's loss
    is weighted by `class_weights` (species with many photos do not crowd out the others).
    """
    import keras
    import tensorflow as tf

    n_species = len(data.species)
    n_photos, views = data.x_train.shape[:2]
    n = n_photos * params.views_per_epoch  # samples per epoch
    head = build_head(n_species, params=params, seed=seed)
    batch_size = min(params.batch_size, max(n, 1))
    steps = max(1, int(np.ceil(n / batch_size)))
    optimizer = make_optimizer(params, params.epochs * steps)
    optimizer.build(head.trainable_variables)
    loss_fn = keras.losses.CategoricalCrossentropy(
        from_logits=True, label_smoothing=params.label_smoothing
    )
    x = tf.constant(data.x_train, tf.float32)
    y = tf.constant(data.y_train, tf.int32)
    weight = tf.constant(
        class_weights(
            data.y_train,
            n_species=n_species,
            balance=params.class_balance,
            from_added=data.from_added,
            added_weight=params.added_weight,
        ),
        tf.float32,
    )
    has_held = len(data.y_held) > 0
    x_val = tf.constant(data.held.x[:, 0], tf.float32) if has_held else None
    y_val = tf.constant(data.y_held, tf.int32) if has_held else None

    @tf.function(reduce_retracing=True)
    def train_epoch(epoch_seed):
        order = tf.argsort(tf.random.stateless_uniform([n], seed=epoch_seed)) % n_photos
        pick = tf.random.stateless_uniform(
            [n], seed=epoch_seed + 1, minval=0, maxval=views, dtype=tf.int32
        )
        total_loss = tf.constant(0.0)
        correct = tf.constant(0.0)
        for step in tf.range(steps):
            rows = order[step * batch_size : (step + 1) * batch_size]
            view = pick[step * batch_size : (step + 1) * batch_size]
            xb = tf.gather_nd(x, tf.stack([rows, view], axis=1))
            yb = tf.gather(y, rows)
            with tf.GradientTape() as tape:
                logits = head(xb, training=True)
                loss = loss_fn(tf.one_hot(yb, n_species), logits, tf.gather(weight, rows))
            grads = tape.gradient(loss, head.trainable_variables)
            optimizer.apply(grads, head.trainable_variables)
            size = tf.cast(tf.shape(rows)[0], tf.float32)
            total_loss += loss * size
            correct += tf.reduce_sum(
                tf.cast(tf.equal(tf.argmax(logits, 1, output_type=tf.int32), yb), tf.float32)
            )
        return total_loss / n, correct / n

    @tf.function(reduce_retracing=True)
    def evaluate(xv, yv):
        logits = head(xv, training=False)
        loss = keras.losses.categorical_crossentropy(
            tf.one_hot(yv, n_species), logits, from_logits=True
        )
        hits = tf.equal(tf.argmax(logits, 1, output_type=tf.int32), yv)
        return tf.reduce_mean(loss), tf.reduce_mean(tf.cast(hits, tf.float32))

    show = verbose not in (0, "0")
    history: dict[str, list[float]] = {"loss": [], "accuracy": []}
    if has_held:
        history.update(val_loss=[], val_accuracy=[])
    best, best_weights, waited = np.inf, None, 0
    bar = console.progress(total=params.epochs, desc="epochs", unit="epoch", disable=not show)
    for epoch in range(params.epochs):
        loss, accuracy = train_epoch(tf.constant([seed, 2 * epoch], tf.int64))
        history["loss"].append(float(loss))
        history["accuracy"].append(float(accuracy))
        watched = history["loss"][-1]
        if has_held:
            val_loss, val_accuracy = evaluate(x_val, y_val)
            history["val_loss"].append(float(val_loss))
            history["val_accuracy"].append(float(val_accuracy))
            watched = history["val_loss"][-1]
        bar.set_postfix(**{k: f"{v[-1]:.4f}" for k, v in history.items()})
        bar.update()
        if not np.isfinite(watched):
            break
        if watched < best:
            best, best_weights, waited = watched, head.get_weights(), 0
        else:
            waited += 1
            if waited >= params.patience:
                break
    bar.close()
    if best_weights is not None:
        head.set_weights(best_weights)
    return head, history


def class_weights(
    labels: np.ndarray,
    *,
    n_species: int,
    balance: float,
    from_added: np.ndarray | None = None,
    added_weight: float = 1.0,
) -> np.ndarray:
    """Each photo's loss weight, scaled to a mean of 1: (photos of its species)^-balance (0 weighs
    photos alike, 1 gives every species the same total weight), times `added_weight` for the
    photos `from_added` folders."""
    if not len(labels):
        return np.ones(0, np.float32)
    counts = np.bincount(labels, minlength=n_species).astype(np.float64)
    weights = counts[labels] ** -balance
    if from_added is not None:
        weights = np.where(from_added, weights * added_weight, weights)
    return (weights / weights.mean()).astype(np.float32)


def head_logits(head, pooled: np.ndarray) -> np.ndarray:
    """Logits averaged over views ([n, views, 1280] -> [n, species]), as the serving model does."""
    if len(pooled) == 0:
        return np.zeros((0, head.output_shape[-1]), np.float32)
    flat = pooled.reshape(-1, pooled.shape[-1])
    logits = head.predict(flat, batch_size=2048, verbose=0)
    return logits.reshape(pooled.shape[0], pooled.shape[1], -1).mean(axis=1)


def calibrate(head, data: TrainingData) -> tuple[dict, dict]:
    """(the calibration, held-out metrics) from the held-out photos."""
    logits = data.held.logits(head)
    temperature = calibration.fit_temperature(logits, data.y_held)
    probs = softmax(logits / temperature)
    top = probs.max(axis=1) if len(probs) else np.zeros(0)
    correct = probs.argmax(axis=1) == data.y_held if len(probs) else np.zeros(0, bool)
    # from the training photos only: the held-out no_bird rate is then an honest estimate
    no_bird = calibration.no_bird_threshold(data.bird_train)
    uncertain = calibration.uncertain_threshold(top, correct)
    cal = {
        "temperature": temperature,
        "no_bird_threshold": no_bird,
        "uncertain_threshold": uncertain,
        "held_out_photos": len(data.y_held),
    }
    if data.unknown is not None:
        unknown_top = softmax(data.unknown.logits(head) / temperature).max(axis=1)
        open_set = calibration.open_set_threshold(unknown_top)
        cal["uncertain_threshold"] = max(uncertain, open_set)
        cal["open_set"] = {
            "unknown_photos": len(unknown_top),
            "threshold": open_set,
            "held_out_threshold": uncertain,
            "unknown_answered": float((unknown_top >= cal["uncertain_threshold"]).mean()),
        }
    metrics = held_out_metrics(probs, data.y_held, bird=data.bird_held, cal=cal)
    return cal, metrics


def held_out_metrics(probs: np.ndarray, labels: np.ndarray, *, bird: np.ndarray, cal: dict) -> dict:
    """Accuracy, weighted F1 and verdict rates of the held-out photos (`metrics.json`)."""
    if len(labels) == 0:
        return {"held_out_photos": 0}
    top_k = np.argsort(-probs, axis=1)[:, :5]
    correct = top_k[:, 0] == labels
    verdicts = [
        verdict_of(bird_mass=float(b), top_probability=float(p[k[0]]), calibration=cal)
        for b, p, k in zip(bird, probs, top_k, strict=True)
    ]
    figures = classification_metrics(labels, top_k, confidence=probs.max(axis=1))
    rates = verdict_metrics(verdicts, correct)
    return {
        "held_out_photos": len(labels),
        "accuracy": figures["accuracy"],
        "top5_accuracy": figures["top5_accuracy"],
        "weighted_f1": figures["weighted_f1"],
        "no_bird_rate": rates["no_bird_rate"],
        "uncertain_rate": rates["uncertain_rate"],
        "accuracy_when_bird": rates["answered_accuracy"],
    }


def train_model(
    data_dir: str | os.PathLike,
    *,
    out_dir: str | os.PathLike | None = None,
    params: HeadParams | None = None,
    seed: int = 0,
    species: list[str] | None = None,
    per_class: int | None = None,
    extractor: Extractor | None = None,
    cache_dir: Path | None = None,
    progress: bool = True,
    log=print,
    finder: Finder | None = None,
    added: Sequence[Path] = (),
    names: dict[str, str] | None = None,
    hold_out: Sequence[Path] = (),
    hold_out_of: Mapping[Path, Sequence[Path]] | None = None,
    exclude_added: Collection[str] = (),
) -> Path:
    """Train a classifier on a BIRDS-525-layout folder (the catalogue) and the photos of its
    species in the `added` folders (`ml.sources`, species renamed by `names`), none of the
    `hold_out` photos or their copies (for the added folders `hold_out_of` names, of its
    hold-out instead), none of the added photos of the species in
    `exclude_added`; return the new model directory, `<out_dir>/<version>`
    (out_dir defaults to data_dir()/models). Without `params`, the defaults for the catalogue
    split's photos per species (`ml.model.default_params_for`). `finder` is the crop policy of
    training and serving (None: the full frame only, one pass)."""
    started = time.perf_counter()
    sources = gather_sources(
        Path(data_dir),
        added=added,
        names=names,
        hold_out=hold_out,
        hold_out_of=hold_out_of,
        species=species,
        exclude=exclude_added,
    )
    dataset = sources.catalogue
    split = choose_split(dataset, seed=seed, per_class=per_class)
    log(
        f"Data: {len(dataset.species)} species, {len(split.train)} training photos, "
        f"{len(split.held)} held out ({split.note})."
    )
    for line in sources.summary():
        log(line)
    if params is None:
        per_species = float(np.median(list(_counts(split.train, dataset.species).values())))
        params = default_params_for(per_species)
        log(
            f"Parameters: the defaults for {per_species:g} training photos per species "
            f"(dropout {params.dropout_in:g}/{params.dropout_mid:g}, "
            f"label smoothing {params.label_smoothing:g})."
        )
    extractor = extractor or default_extractor()
    data = training_data(
        split,
        params=params,
        extractor=extractor,
        cache_dir=cache_dir,
        progress=progress,
        finder=finder,
        added=sources.added,
        unknown=sources.unknown,
    )
    for path, reason in data.skipped:
        log(f"Skipped {path}: {reason}")
    dropped = sorted(set(dataset.species) - set(data.species))
    if dropped:
        log(f"Species without a readable training photo, left out: {', '.join(dropped)}")

    log(f"Training the head on {data.x_train.shape[0]} photos x {data.x_train.shape[1]} views...")
    head, history = fit_head(data, params=params, seed=seed, verbose=2 if progress else 0)
    cal, metrics = calibrate(head, data)
    metrics["training_seconds"] = round(time.perf_counter() - started, 1)

    serving = serving_model(
        feature_model(extractor.id.split("-")[0]),
        head,
        bird_class_ids=BIRD_CLASS_IDS,
        temperature=cal["temperature"],
        tta_views=params.tta_views,
    )
    labels = [
        {"index": i, "name": n, "scientific_name": dataset.scientific_names.get(n, "")}
        for i, n in enumerate(data.species)
    ]
    data_info = {
        "source": str(Path(data_dir).resolve()),
        "sources": sources.record,
        "names": dict(names or {}),
        "seed": seed,
        "per_class": per_class,
        "early_stopping_split": split.held_from,
        "crop_policy": policy_name(finder),
        "note": split.note,
        "train_counts": _counts(split.train + sources.added, data.species),
        "held_out_counts": _counts(split.held, data.species),
        "skipped": [{"path": p, "reason": r} for p, r in data.skipped],
        "species_left_out": dropped,
    }
    model = write_model_dir(
        root=Path(out_dir) if out_dir is not None else models_dir(),
        serving=serving,
        labels=labels,
        calibration=cal,
        params=params.to_dict(),
        history=history,
        metrics={
            **metrics,
            "head_parameters": int(head.count_params()),
            "serving_parameters": int(serving.count_params()),
        },
        data_info=data_info,
        backbone_id=extractor.id,
        finder=finder,
    )
    log(
        f"Model {model.version}: held-out accuracy {metrics.get('accuracy', float('nan')):.3f}, "
        f"weighted F1 {metrics.get('weighted_f1', float('nan')):.3f} "
        f"on {metrics['held_out_photos']} "
        f"photos; {head.count_params():,} head parameters; "
        f"{MODEL_FILE} {model.model_file.stat().st_size / 1e6:.1f} MB; "
        f"{time.perf_counter() - started:.0f} s in all -> {model.path}"
    )
    return model.path


def _counts(samples: list[Sample], species: list[str]) -> dict[str, int]:
    counts = dict.fromkeys(species, 0)
    for s in samples:
        if s.species in counts:
            counts[s.species] += 1
    return counts
