"""Model directories as far as promotion and the registry read them, without training one: the
JSON files are real, the serving model is a stand-in that nothing here runs."""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path

from ml.model_dir import CALIBRATION_FILE, LABELS_FILE, METRICS_FILE, MODEL_FILE, VERSION_FILE

CALIBRATION = {
    "temperature": 1.0,
    "no_bird_threshold": 0.1,
    "uncertain_threshold": 0.5,
    "held_out_photos": 3,
}


def fake_model_dir(root: Path, version: str, names: Sequence[str] = ("SOME BIRD",)) -> Path:
    """`<root>/<version>` with every file a model directory must have, and metrics."""
    folder = root / version
    folder.mkdir(parents=True)
    labels = [{"index": i, "name": n, "scientific_name": ""} for i, n in enumerate(names)]
    (folder / LABELS_FILE).write_text(json.dumps(labels))
    (folder / CALIBRATION_FILE).write_text(json.dumps(CALIBRATION))
    (folder / VERSION_FILE).write_text(
        json.dumps({"version": version, "created": "", "backbone": "lite0"})
    )
    (folder / METRICS_FILE).write_text(json.dumps({"weighted_f1": 0.9}))
    (folder / MODEL_FILE).write_bytes(b"tflite")
    return folder
