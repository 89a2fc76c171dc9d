"""Retrain on what one birder confirmed: field/valid top-1 of the active model and of the
retrained one.

    python -m benchmarks.retrain [--output var/benchmarks/retrain.json] [--active MODEL_DIR]

On a throwaway database: trains the active model on `birds525` + `cub100` holding out
`field/train` and `field/valid` (by content, so their `cub100` crops are out too), activates it,
logs every `field/train` photo of a catalogue species as a sighting through the service layer
for one consenting person (the species by its catalogue name through `cub-to-birds525.csv`, the
box from `field/boxes.csv`), then runs `retrain --promote-if-better` (which exports those
sightings and judges on `field/valid`). Prints and saves JSON: both models' top-1 on
`field/valid` (catalogue species), b, c, the p-value, the catalogue check, the decision and the
timings. Models go to `<data dir>/benchmarks/retrain-models` (the site's active model is left
alone); the feature cache is the data dir's. `--active` reuses the active model an earlier run
trained (its directory) instead of training it again.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
import tempfile
import time
from pathlib import Path

from benchmarks.throwaway import run_on_throwaway_database, setup_django

REPO = Path(__file__).resolve().parent.parent


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--output", type=Path, default=REPO / "var/benchmarks/retrain.json")
    parser.add_argument("--active", type=Path, help="an earlier run's active model directory")
    args = parser.parse_args(argv)
    setup_django()
    logging.getLogger("classifier.predictions").setLevel(logging.WARNING)  # a line per photo
    from django.conf import settings
    from django.db import connection

    from ml.config import data_dir

    settings.MODELS_DIR = data_dir() / "benchmarks" / "retrain-models"
    settings.MODELS_DIR.mkdir(parents=True, exist_ok=True)
    name = f"bench_retrain_{os.getpid()}"
    if connection.vendor == "sqlite":  # a file: in the data dir, not the working directory
        name = str(settings.MODELS_DIR.parent / f"{name}.sqlite3")

    def run() -> dict:
        with tempfile.TemporaryDirectory() as media:
            settings.MEDIA_ROOT = media
            settings.STORAGES = {
                **settings.STORAGES,
                "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
            }
            return _run(active=args.active)

    return run_on_throwaway_database(name=name, run=run, output=args.output)


def _run(*, active: Path | None) -> dict:
    from django.conf import settings
    from django.contrib.auth import get_user_model

    from accounts.services import set_training_consent
    from classifier.boxes import whole_box
    from classifier.models import Species
    from classifier.promotion import activate_model
    from classifier.services import gallery
    from classifier.services.retrain import retrain
    from classifier.services.sightings import create_sighting
    from ml.config import default_name_map, shared_data_dir
    from ml.data import read_boxes, read_dataset, read_name_map
    from ml.finder_fit import current_finder
    from ml.images import upright_size
    from ml.train import train_model

    shared = shared_data_dir()
    field = shared / "field"
    names = read_name_map(default_name_map())
    timings = {}

    def box_text(box, *, path: Path) -> str:
        """A `boxes.csv` box as the API takes it (a few reach a pixel outside their photo)."""
        width, height = upright_size(path)
        return ",".join(str(v) for v in whole_box(box.as_tuple(), width=width, height=height))

    def log(line: str) -> None:
        print(line, file=sys.stderr)

    began = time.perf_counter()
    gallery.load_species(data_dir=shared / "birds525", photos_per_species=0)
    active = active or train_model(
        shared / "birds525",
        out_dir=settings.MODELS_DIR,
        finder=current_finder(),
        added=[shared / "cub100"],
        names=names,
        hold_out=[field / "train", field / "valid"],
        log=log,
    )
    activate_model(model_dir=active, performed_by="bench_retrain")
    timings["train_active_seconds"] = round(time.perf_counter() - began, 1)

    began = time.perf_counter()
    birder = get_user_model().objects.create_user("birder", password=None)
    set_training_consent(user=birder, allowed=True)
    catalogue = {s.name: s for s in Species.objects.all()}
    boxes = read_boxes(field)
    logged = 0
    for sample in read_dataset(field / "train").samples("train"):
        species = catalogue.get(names.get(sample.species, ""))
        if species is None:
            continue
        create_sighting(
            owner=birder,
            data=sample.path.read_bytes(),
            species=species,
            box=box_text(boxes[sample.path.resolve()], path=sample.path),
        )
        logged += 1
    timings["log_sightings_seconds"] = round(time.perf_counter() - began, 1)

    settings.RETRAIN_HELD_OUT = [field / "valid"]
    began = time.perf_counter()
    report = retrain(performed_by="bench_retrain", promote_if_better=True, progress=True, log=log)
    timings["retrain_seconds"] = round(time.perf_counter() - began, 1)
    timings["judge_seconds"] = report.judgement.seconds
    for line in report.summary_lines():
        log(line)
    decision = report.judgement.decision
    return {
        "sightings_logged": logged,
        "exported": report.export_lines,
        "active_model": report.active.version,
        "retrained_model": report.candidate.version,
        "field_valid_photos": decision.held_out.photos,
        "field_valid_top1_active": round(decision.held_out.active_accuracy, 4),
        "field_valid_top1_retrained": round(decision.held_out.candidate_accuracy, 4),
        "b_retrained_only_right": decision.held_out.candidate_only,
        "c_active_only_right": decision.held_out.active_only,
        "p_value": decision.p_value,
        "confidence": decision.confidence,
        "catalogue_check": report.judgement.catalogue_check,
        "catalogue_top1_active": round(decision.catalogue.active_accuracy, 4),
        "catalogue_top1_retrained": round(decision.catalogue.candidate_accuracy, 4),
        "promoted": report.promotion is not None,
        "reasons": decision.reasons,
        "engine": report.judgement.engine,
        "timings": timings,
    }


if __name__ == "__main__":
    main()
