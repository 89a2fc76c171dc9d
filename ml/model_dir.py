"""The model directory: the one contract between training (which writes it), promotion (which
activates it) and serving (which loads it); docs/architecture.md describes its files.

Only this module knows the files' names. `ModelDir.open` is the one check that a folder is a
model directory, so a folder the site would refuse to serve is refused everywhere with the same
error. `write_model_dir` builds one in a staging dir beside its final place and renames it in
whole (`ml.atomic`): a failed or interrupted run leaves nothing. A model directory never changes
once written (but for `retrain.json`, added once before it can be promoted): its name is a hash
of what it serves. TensorFlow-free (serving opens these).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import os
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ml import atomic
from ml.backbone_files import sha256_file
from ml.export import export_tflite
from ml.finder import FINDER_FILE, REGRESSOR_FILE, Finder

if TYPE_CHECKING:
    import keras

MODEL_FILE = "model.tflite"  # the serving model (LiteRT)
KERAS_FILE = "model.keras"  # the same model in Keras, for further training
LABELS_FILE = "labels.json"  # index -> {"index", "name", "scientific_name"}
CALIBRATION_FILE = "calibration.json"  # temperature and the verdicts' thresholds
PARAMS_FILE = "params.json"  # the head/training parameters used
HISTORY_FILE = "history.json"  # the training history
METRICS_FILE = "metrics.json"  # held-out metrics of the training run, sizes
DATA_FILE = "data.json"  # what it was trained on (`ml.sources`)
VERSION_FILE = "version.json"  # {"version", "created", "backbone", "backbone_id"}
# written by retrain after the rest, before it can be promoted: its judgement against the model
# it would replace (`ml.retrain.Judgement`); not served, so not in the version
RETRAIN_FILE = "retrain.json"
# and, for a model made with the bird finder, the finder's own files (`ml.finder.Finder.save`)

# Without any of these the site cannot serve the model: the folder is not a model directory.
REQUIRED_FILES = (MODEL_FILE, LABELS_FILE, CALIBRATION_FILE, VERSION_FILE)
# What the served answers depend on; the version is a hash of them (the finder's when present).
SERVED_FILES = (MODEL_FILE, LABELS_FILE, CALIBRATION_FILE, FINDER_FILE, REGRESSOR_FILE)
VERSION_LENGTH = 12


class ModelDirError(ValueError):
    """A folder that is not a complete model directory; the message names what is wrong."""


@dataclass(frozen=True)
class ModelDir:
    """An opened (checked) model directory; its files are read on first use."""

    path: Path
    version: str

    @classmethod
    def open(cls, *, path: str | os.PathLike) -> ModelDir:
        """The model directory at `path`; raises ModelDirError naming every missing file."""
        path = Path(path)
        missing = [name for name in REQUIRED_FILES if not (path / name).is_file()]
        if missing:
            raise ModelDirError(
                f"{path} is not a complete model directory: missing {', '.join(missing)}"
            )
        version = _read_json(path, VERSION_FILE)
        if not isinstance(version, dict) or not isinstance(version.get("version"), str):
            raise ModelDirError(
                f"{path} is not a complete model directory: no version in {VERSION_FILE}"
            )
        return cls(path, version["version"])

    @property
    def model_file(self) -> Path:
        return self.path / MODEL_FILE

    @cached_property
    def labels(self) -> list[dict]:
        return _read_json(self.path, LABELS_FILE)

    @property
    def species(self) -> list[str]:
        """Species names by label index."""
        return [entry["name"] for entry in self.labels]

    @cached_property
    def calibration(self) -> dict:
        return _read_json(self.path, CALIBRATION_FILE)

    @cached_property
    def metrics(self) -> dict:
        """Held-out metrics of the training run ({} when the file is absent)."""
        return _read_optional(self.path, METRICS_FILE)

    @cached_property
    def params(self) -> dict:
        """The head/training parameters it was trained with ({} when the file is absent)."""
        return _read_optional(self.path, PARAMS_FILE)

    @cached_property
    def data_info(self) -> dict:
        """What the model was trained on (`ml.sources`; {} when the file is absent)."""
        return _read_optional(self.path, DATA_FILE)

    @cached_property
    def finder(self) -> Finder | None:
        """The bird finder it serves with; None for a model made before the finder."""
        return Finder.load(self.path)


def write_model_dir(
    *,
    root: Path,
    serving: keras.Model,
    labels: list[dict],
    calibration: dict,
    params: dict[str, Any],
    history: dict,
    metrics: dict,
    data_info: dict,
    backbone_id: str,
    finder: Finder | None = None,
) -> ModelDir:
    """Write a model directory as `<root>/<version>` (the same model already there is kept as
    it is); `metrics` gain the sizes of the two model files."""
    with atomic.staging_dir(parent=root) as staged:
        export_tflite(serving, staged / MODEL_FILE)
        serving.save(staged / KERAS_FILE)
        metrics = {
            **metrics,
            "model_tflite_bytes": (staged / MODEL_FILE).stat().st_size,
            "model_keras_bytes": (staged / KERAS_FILE).stat().st_size,
        }
        for name, content in (
            (LABELS_FILE, labels),
            (CALIBRATION_FILE, calibration),
            (PARAMS_FILE, params),
            (HISTORY_FILE, history),
            (METRICS_FILE, metrics),
            (DATA_FILE, data_info),
        ):
            _write_json(staged / name, content)
        if finder is not None:
            finder.save(staged)
        version = _content_version(staged)
        _write_json(
            staged / VERSION_FILE,
            {
                "version": version,
                "created": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
                "backbone": backbone_id.split("-")[0],
                "backbone_id": backbone_id,
            },
        )
        target = atomic.swap_in(staged=staged, target=root / version, replace=False)
    return ModelDir.open(path=target)


def write_retrain_record(*, model: ModelDir, record: dict) -> Path:
    """Save retrain's judgement of `model` (a candidate not yet promoted) in its directory."""
    path = model.path / RETRAIN_FILE
    atomic.write_json(path=path, value=record)
    return path


def file_digests(*, path: Path) -> dict[str, str]:
    """The sha256 of every file in the model directory at `path`, by its path relative to it
    ("/"-separated): what a copy of it elsewhere (the S3 model store) is checked against."""
    path = Path(path)
    return {
        file.relative_to(path).as_posix(): sha256_file(file)
        for file in sorted(path.rglob("*"))
        if file.is_file()
    }


def mismatched_files(*, path: Path, digests: dict[str, str]) -> list[str]:
    """The names in `digests` whose file under `path` is missing or has other contents, and the
    files under `path` that `digests` does not name; [] when the folder is exactly that."""
    found = file_digests(path=path)
    return sorted(
        name for name in digests.keys() | found.keys() if found.get(name) != digests.get(name)
    )


def _content_version(folder: Path) -> str:
    """Short hash of the files the served answers depend on."""
    digest = hashlib.sha256()
    for name in SERVED_FILES:
        if (folder / name).is_file():
            digest.update((folder / name).read_bytes())
    return digest.hexdigest()[:VERSION_LENGTH]


def _write_json(path: Path, content: Any) -> None:
    # unsorted keys: the bytes of the hashed files stay those of every model made so far
    path.write_text(json.dumps(content, indent=2) + "\n")


def _read_json(folder: Path, name: str) -> Any:
    try:
        return json.loads((folder / name).read_text())
    except (OSError, ValueError) as exc:
        raise ModelDirError(
            f"{folder} is not a complete model directory: {name} cannot be read ({exc})"
        ) from exc


def _read_optional(folder: Path, name: str) -> dict:
    return _read_json(folder, name) if (folder / name).is_file() else {}
