"""The classifier's acceptance figures, measured on the development photos.

`run_benchmark` returns a dict of sections (each a dict of figures), so later sections (tuning,
promotion) can be added beside these without changing them.
"""

from __future__ import annotations

import os
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
from PIL import Image

from ml.benchmark_run import BenchRun
from ml.benchmark_sources import sources_section, sources_summary
from ml.calibration import no_bird_threshold
from ml.config import shared_data_dir
from ml.data import read_dataset, read_name_map
from ml.features import Extractor, default_extractor, extract
from ml.field import field_report, field_summary
from ml.finder_fit import fit_finder
from ml.images import load_photo, view_pixels
from ml.model import DEFAULT_PARAMS, HeadParams, default_params_for
from ml.model_dir import ModelDir
from ml.train import (
    ServedViews,
    TrainingData,
    crop_weights_of,
    fit_head,
    train_model,
    training_data,
)
from ml.tune import make_objective, search, start_or_resume, tuning_split
from ml.tune_store import finished_trials

ROTATIONS = 5
CUB_PER_CLASS = 25
TUNING_TRIALS = 10  # enough for seconds per trial; a real search runs 50+
# skimage's bundled (never downloaded) photos without a bird: the first group may be looked at
# when choosing thresholds, the second only measures.
NON_BIRD_PICK = ("camera", "coins", "moon", "page", "text", "astronaut", "coffee")
NON_BIRD_TEST = (
    "chelsea",
    "rocket",
    "hubble_deep_field",
    "immunohistochemistry",
    "clock",
    "grass",
    "gravel",
    "brick",
    "logo",
    "colorwheel",
    "horse",
    "checkerboard",
)


def features_speed(paths: list[Path], extractor: Extractor, *, views: int = 1) -> dict:
    """Images per second on an empty (temporary) cache."""
    with tempfile.TemporaryDirectory() as cache:
        result = extract(
            paths, views=views, extractor=extractor, cache_dir=Path(cache), progress=True
        )
    return {
        "images": len(result.kept),
        "views": views,
        "seconds": round(result.seconds, 2),
        "images_per_s": round(len(result.kept) / result.seconds, 1),
    }


def birds525_rotations(birds525: Path, *, run: BenchRun) -> dict:
    """Mean accuracy over 5 rotations: photo r of each species checks, the others train; the
    no_bird rate of each rotation's checking photos at the threshold its training photos give.
    Views follow the finder's crop policy (the full view's bird mass decides "no bird")."""
    params, finder = run.params or default_params_for(ROTATIONS - 1), run.finder

    dataset = read_dataset(birds525)
    samples = [s for split in dataset.splits.values() for s in split]
    views = max(params.train_views, params.tta_views)
    paths = [s.path for s in samples]
    feats = extract(
        paths,
        views=views,
        extractor=run.extractor,
        cache_dir=run.cache,
        progress=False,
        finder=finder,
    )
    full = (
        extract(
            paths,
            views=params.tta_views,
            extractor=run.extractor,
            cache_dir=run.cache,
            progress=False,
        )
        if finder
        else feats
    )
    weights = crop_weights_of(finder, full, samples=samples) if finder else None
    kept = [samples[i] for i in feats.kept]
    index = {n: i for i, n in enumerate(dataset.species)}
    labels = np.array([index[s.species] for s in kept])
    rank = _rank_within_species(kept)
    accuracies, no_birds = [], []
    for r in range(ROTATIONS):
        held, train = rank == r, rank != r
        data = TrainingData(
            dataset.species,
            feats.pooled[train][:, : params.train_views],
            labels[train],
            ServedViews(
                feats.pooled[held][:, : params.tta_views],
                full.pooled[held][:, : params.tta_views] if finder else None,
                weights[held] if finder else None,
            ),
            labels[held],
            feats.full_bird[train],
            feats.full_bird[held],
        )
        head, _ = fit_head(data, params=params, seed=r, verbose=0)
        accuracy = float((data.held.logits(head).argmax(1) == data.y_held).mean())
        # the no_bird threshold as training picks it (from the training photos only), measured
        # on the photos of the rotation that did not choose it
        threshold = no_bird_threshold(data.bird_train)
        no_bird = float((data.bird_held < threshold).mean())
        run.log(
            f"birds525 rotation {r + 1}/{ROTATIONS}: accuracy {accuracy:.3f}, "
            f"no_bird {no_bird:.1%} (threshold {threshold:.3f} from the training photos)"
        )
        accuracies.append(accuracy)
        no_birds.append(no_bird)
    return {
        "rotations": accuracies,
        "mean_accuracy": float(np.mean(accuracies)),
        "no_bird_rates": no_birds,
        "no_bird_rate": float(np.mean(no_birds)),
        "bird_mass": feats.full_bird,
    }


def _rank_within_species(samples: list) -> np.ndarray:
    seen: dict[str, int] = {}
    ranks = []
    for s in samples:
        ranks.append(seen.get(s.species, 0) % ROTATIONS)
        seen[s.species] = seen.get(s.species, 0) + 1
    return np.array(ranks)


def cub100(cub: Path, *, run: BenchRun) -> dict:
    """25 train photos per species, judged on `valid` (which also drives early stopping)."""

    model_dir = train_model(cub, per_class=CUB_PER_CLASS, **run.training())
    metrics = ModelDir.open(path=model_dir).metrics
    return {
        "per_class": CUB_PER_CLASS,
        "valid_photos": metrics["held_out_photos"],
        "weighted_f1": metrics["weighted_f1"],
        "accuracy": metrics["accuracy"],
        "no_bird_rate": metrics["no_bird_rate"],
        "uncertain_rate": metrics["uncertain_rate"],
    }


def skimage_photos(names: tuple[str, ...]) -> dict[str, Image.Image]:
    """skimage's bundled images as PIL images (bool and grey ones made 8-bit)."""
    import skimage.data  # a dev requirement (requirements/dev.txt), not a production one

    photos = {}
    for name in names:
        array = np.asarray(getattr(skimage.data, name)())
        if array.dtype == bool:
            array = array.astype(np.uint8) * 255
        photos[name] = Image.fromarray(array)
    return photos


def non_bird_masses(extractor: Extractor, names: tuple[str, ...]) -> dict[str, float]:
    """ImageNet bird mass of each photo (what the no_bird verdict thresholds)."""

    return {
        name: float(extractor(view_pixels(load_photo(photo).image)[None])[1][0])
        for name, photo in skimage_photos(names).items()
    }


def run_benchmark(
    *, params: HeadParams | None = None, data_root: Path | None = None, log: Callable = print
) -> dict:
    """All sections; models and caches go to a temp dir that is removed at the end. Without
    `params`, each data set gets the defaults for its photos per species."""

    root = data_root or shared_data_dir()
    birds525, cub, field = root / "birds525", root / "cub100", root / "field"
    extractor = default_extractor()
    report: dict = {
        "params": params.to_dict() if params else "defaults for the photos per species",
        "load_average": {"start": _load()},
    }
    views = (params or default_params_for(CUB_PER_CLASS)).train_views
    with tempfile.TemporaryDirectory(prefix="bench-ml-") as tmp:
        tmp_path = Path(tmp)
        cache, out = tmp_path / "features", tmp_path / "models"
        paths = [s.path for s in read_dataset(birds525).samples("valid")][:300]
        report["features"] = {
            "plain": features_speed(paths, extractor, views=1),
            "training_views": features_speed(paths[:100], extractor, views=views),
        }
        report["load_average"]["after_features"] = _load()
        log(
            f"features: {report['features']['plain']['images_per_s']} images/s (plain view), "
            f"load average {_load()}"
        )

        finder, report["finder_fit"] = fit_finder(
            field,
            split="train",
            extractor=extractor,
            cache_dir=cache,
            progress=False,
            crops_root=cub,
        )
        log(f"finder: {report['finder_fit']['chosen']} on field/train")
        name_map = read_name_map(root / "cub-to-birds525.csv")
        run = BenchRun(
            params=params, extractor=extractor, cache=cache, out=out, log=log, finder=finder
        )
        report["sources"], models = sources_section(root, name_map=name_map, run=run)
        # the finder's own effect: judged on the model trained on BIRDS-525 only
        report["field"] = field_report(
            models["birds525_only"], field, name_map=name_map, split="valid"
        )
        report["load_average"]["after_default_training"] = _load()
        calibration = ModelDir.open(path=models["default"]).calibration
        threshold = calibration["no_bird_threshold"]

        rotations = birds525_rotations(birds525, run=run)
        birds_mass = rotations.pop("bird_mass")
        one_pass = birds525_rotations(birds525, run=run.one_pass())
        report["birds525"] = {
            **rotations,
            "one_pass_mean_accuracy": one_pass["mean_accuracy"],
            # every photo against the default model's threshold (which all of them chose):
            # for reference only; `no_bird_rate` is measured on photos that did not choose it
            "no_bird_rate_default_model_all_photos": float((birds_mass < threshold).mean()),
        }
        report["cub100"] = {
            **cub100(cub, run=run),
            "one_pass_weighted_f1": cub100(cub, run=run.one_pass())["weighted_f1"],
        }
        report["tuning"] = tuning_speed(
            data=cub, trials=TUNING_TRIALS, per_class=CUB_PER_CLASS, cache_dir=cache
        )

        pick = non_bird_masses(extractor, NON_BIRD_PICK)
        test = non_bird_masses(extractor, NON_BIRD_TEST)
        report["non_bird"] = {
            "no_bird_threshold": threshold,
            "pick_bird_mass": pick,
            "test_bird_mass": test,
            "pick_rejection": float(np.mean([m < threshold for m in pick.values()])),
            "test_rejection": float(np.mean([m < threshold for m in test.values()])),
        }
    report["load_average"]["end"] = _load()
    return report


def tuning_speed(
    *, data: Path, trials: int, per_class: int, cache_dir: Path | None, seed: int = 0
) -> dict:
    """Tuning on cached features: building the feature cache of the tuning photos (a cache
    that already holds them: seconds), then `trials` TPE trials on the warm cache."""
    with tempfile.TemporaryDirectory() as tmp:
        store, state, _ = start_or_resume(
            run_dir=Path(tmp) / "run", data=data, per_class=per_class, seed=seed
        )
        split = tuning_split(Path(data), seed=seed, per_class=per_class)
        started = time.perf_counter()
        tuning = training_data(
            split,
            params=DEFAULT_PARAMS,
            extractor=default_extractor(),
            cache_dir=cache_dir,
            progress=False,
        )
        cache_seconds = time.perf_counter() - started
        result = search(
            store,
            state,
            objective=make_objective(tuning, seed),
            max_evals=trials,
            seed=seed,
            progress=False,
        )
    durations = [t["result"]["duration_s"] for t in finished_trials(result.trials)]
    return {
        "data": str(data),
        "per_class": per_class,
        "photos": len(split.train) + len(split.held),
        "train_views": DEFAULT_PARAMS.train_views,
        "feature_cache_seconds": round(cache_seconds, 1),
        "trials": len(result.trials.trials),
        "search_seconds": round(result.seconds, 1),
        "trial_seconds_mean": round(float(np.mean(durations)), 2),
        "trial_seconds_max": round(float(np.max(durations)), 2),
        "best_loss": round(result.best["result"]["loss"], 4),
        "best_params": result.best["result"]["params"],
    }


def _load() -> list[float]:
    """1, 5 and 15 minute load averages (the figures depend on what else runs)."""
    return [round(x, 2) for x in os.getloadavg()]


def _finder_line(title: str, section: dict, *, key: str) -> str:
    """A data set's figure with the finder, and without it (`one_pass_<key>`)."""
    return (
        f"{title} {section[key]:.3f} (one pass, no finder: {section['one_pass_' + key]:.3f}), "
        f"no_bird {section['no_bird_rate']:.1%}"
    )


def summary(report: dict) -> list[str]:
    """The acceptance figures, one line each."""
    lines = []
    if "load_average" in report:
        lines.append(
            "load average (1/5/15 min): "
            + ", ".join(f"{k} {v}" for k, v in report["load_average"].items())
        )
    if "features" in report:
        plain, training = report["features"]["plain"], report["features"]["training_views"]
        lines.append(
            f"feature extraction: {plain['images_per_s']} images/s (1 view), "
            f"{training['images_per_s']} images/s ({training['views']} views)"
        )
    if "sources" in report:
        lines += sources_summary(report["sources"])
    if "cub100" in report:
        per_class = report["cub100"]["per_class"]
        title = f"cub100 ({per_class}/species) weighted F1"
        lines.append(_finder_line(title, report["cub100"], key="weighted_f1"))
    if "birds525" in report:
        title = f"birds525 {ROTATIONS}-rotation mean accuracy"
        lines.append(_finder_line(title, report["birds525"], key="mean_accuracy"))
    if "tuning" in report:
        t = report["tuning"]
        lines.append(
            f"tuning on cached features ({t['photos']} cub100 photos): {t['trials']} trials, "
            f"{t['trial_seconds_mean']} s per trial (max {t['trial_seconds_max']} s)"
        )
    if "field" in report:
        lines += ["BIRDS-525-only model, the finder's own effect:", *field_summary(report["field"])]
    if "non_bird" in report:
        n = report["non_bird"]
        lines.append(
            f"non-bird photos answered no_bird: {n['test_rejection']:.0%} "
            f"(held-out set), {n['pick_rejection']:.0%} (pick set)"
        )
    return lines
