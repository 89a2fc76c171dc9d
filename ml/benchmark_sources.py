"""The benchmark's figures for the default model's added photos and its open-set rule.

Three models are trained with the finder, all without the `field/valid` photos and their
`cub100/valid` crops (`--hold-out field/valid`): the default (BIRDS-525 plus the natural photos
of the 46 shared species), a BIRDS-525-only model (the comparison), and the guard model that
adds the natural photos of one fixed half of the shared species only. Every judgement goes
through the serving Predictor.
"""

from __future__ import annotations

import time
from pathlib import Path

from ml.benchmark_run import BenchRun
from ml.data import read_dataset
from ml.evaluate import evaluate, run_predictor, split_photos
from ml.open_set import answered
from ml.predict import Predictor
from ml.sources import gather_sources
from ml.train import choose_split, train_model

NATURAL_SPLIT = "valid"


def shared_species(name_map: dict[str, str], catalogue: list[str]) -> list[str]:
    """The catalogue species the name map's data set also has (sorted)."""
    return sorted({target for target in name_map.values() if target in set(catalogue)})


def halves(species: list[str]) -> tuple[list[str], list[str]]:
    """Two fixed halves of a sorted species list: every other species."""
    return species[0::2], species[1::2]


def natural_photos(
    folders: list[Path], *, name_map: dict[str, str], labels: list[str], species: set[str]
) -> list[tuple[Path, int]]:
    """(photo, label index) of the folders' `valid` photos of `species` (catalogue names)."""
    return [
        (path, label)
        for folder in folders
        for path, label in split_photos(
            folder, split=NATURAL_SPLIT, names=labels, name_map=name_map
        )[0]
        if labels[label] in species
    ]


def unknown_answered(
    model_dir: Path, folder: Path, *, name_map: dict[str, str], labels: list[str]
) -> dict:
    """The served share of a folder's `valid` photos of species outside the catalogue that
    still get a species answer."""

    _, unknown = split_photos(folder, split=NATURAL_SPLIT, names=labels, name_map=name_map)
    photos = [(path, -1) for paths in unknown.values() for path in paths]
    predictions, _ = run_predictor(Predictor.load(model_dir), photos, progress=False)
    return {
        "unknown_photos": len(predictions.verdicts),
        "unknown_answered": float(answered(predictions.verdicts).mean()),
    }


def top1(model_dir: Path, photos: list[tuple[Path, int]]) -> float:
    """Served top-1 accuracy of a model on photos."""

    predictions, _ = run_predictor(Predictor.load(model_dir), photos, progress=False)
    return float((predictions.y_pred == predictions.y_true).mean())


def sources_section(
    root: Path,
    *,
    name_map: dict[str, str],
    run: BenchRun,
) -> tuple[dict, dict[str, Path]]:
    """The figures, and the model directories by role (`default`, `birds525_only`: the finder's
    own figures are judged on the latter)."""

    birds525, cub, field = root / "birds525", root / "cub100", root / "field"
    hold_out = [field / "valid"]
    common = {**run.training(), "hold_out": hold_out}
    started = time.perf_counter()
    default = train_model(birds525, added=[cub, field], names=name_map, **common)
    seconds = round(time.perf_counter() - started, 1)
    catalogue_only = train_model(birds525, **common)
    labels = read_dataset(birds525).species
    shared = shared_species(name_map, labels)
    kept, left = halves(shared)
    guard = train_model(birds525, added=[cub, field], names=name_map, exclude_added=left, **common)
    run.log(
        f"models: default {default.name}, BIRDS-525 only {catalogue_only.name}, guard {guard.name}"
    )

    field_eval, _ = evaluate(default, field, split=NATURAL_SPLIT, name_map=name_map, progress=False)
    left_photos = natural_photos([cub, field], name_map=name_map, labels=labels, species=set(left))
    split = choose_split(gather_sources(birds525, hold_out=hold_out).catalogue)
    index = {name: i for i, name in enumerate(labels)}
    others = [(s.path, index[s.species]) for s in split.held if s.species not in set(shared)]
    section = {
        "default_model_seconds_from_empty_cache": seconds,
        "hold_out": [str(p) for p in hold_out],
        "field_valid": {
            "photos": field_eval.n_photos,
            "top1": field_eval.metrics["accuracy"],
            "top5": field_eval.metrics["top5_accuracy"],
            "catalogue_answered": field_eval.open_set["catalogue_answered"],
            "accuracy_when_answered": field_eval.open_set["accuracy_when_answered"],
            "unknown_photos": field_eval.open_set["unknown_photos"],
            "unknown_answered": field_eval.open_set["unknown_answered"],
        },
        # the default model trained on cub100/valid's catalogue species (only the crops of
        # field/valid are held out): only its unknown species are judged there
        "cub100_valid": unknown_answered(default, cub, name_map=name_map, labels=labels),
        "left_out_guard": {
            "trained_species": kept,
            "left_out_species": left,
            "photos": len(left_photos),
            "top1_guard_model": top1(guard, left_photos),
            "top1_birds525_only": top1(catalogue_only, left_photos),
        },
        "species_without_added_photos": {
            "species": len(set(labels) - set(shared)),
            "held_out_birds525_photos": len(others),
            "top1_default": top1(default, others),
            "top1_birds525_only": top1(catalogue_only, others),
        },
    }
    return section, {"default": default, "birds525_only": catalogue_only}


def sources_summary(section: dict) -> list[str]:
    """The section's acceptance figures, one line each."""
    f, c = section["field_valid"], section["cub100_valid"]
    g, o = section["left_out_guard"], section["species_without_added_photos"]
    return [
        f"default model (BIRDS-525 + natural photos, field/valid held out) from an empty cache: "
        f"{section['default_model_seconds_from_empty_cache']} s",
        f"field/valid ({f['photos']} photos): top-1 {f['top1']:.3f}, top-5 {f['top5']:.3f}; "
        f"answered {f['catalogue_answered']:.1%}, {f['accuracy_when_answered']:.3f} right",
        f"unknown species answered 'bird': cub100/valid {c['unknown_answered']:.1%} "
        f"({c['unknown_photos']} photos), field/valid {f['unknown_answered']:.1%} "
        f"({f['unknown_photos']} photos)",
        f"left-out half ({len(g['left_out_species'])} species, {g['photos']} natural photos): "
        f"top-1 {g['top1_guard_model']:.3f} trained with the other half's natural photos, "
        f"{g['top1_birds525_only']:.3f} BIRDS-525 only "
        f"({100 * (g['top1_guard_model'] - g['top1_birds525_only']):+.1f} points)",
        f"{o['species']} species without added photos ({o['held_out_birds525_photos']} held-out "
        f"BIRDS-525 photos): top-1 {o['top1_default']:.3f} default, "
        f"{o['top1_birds525_only']:.3f} BIRDS-525 only "
        f"({100 * (o['top1_default'] - o['top1_birds525_only']):+.1f} points)",
    ]
