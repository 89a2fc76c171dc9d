"""Where build outputs live: one data dir (env BIRDSITE_DATA_DIR, default <repo>/var)."""

from __future__ import annotations

import os
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent


def data_dir() -> Path:
    """The root of everything rebuilt by commands (backbone, features, models)."""
    env = os.environ.get("BIRDSITE_DATA_DIR")
    return Path(env).expanduser().resolve() if env else REPO_ROOT / "var"


def models_dir() -> Path:
    """Model directories (`<version>/`) and the `active` / `previous` symlinks."""
    return data_dir() / "models"


def features_dir() -> Path:
    """The backbone feature cache."""
    return data_dir() / "features"


def finder_dir() -> Path:
    """The bird finder that `fit_finder` made (`ml.finder.Finder` files), for training."""
    return data_dir() / "finder"


def shared_data_dir() -> Path:
    """The development photo collections carried beside the repo (`../shared/data`)."""
    return REPO_ROOT.parent / "shared" / "data"


def default_name_map() -> Path:
    """The shared map of `cub100` and `field` species names to the catalogue's."""
    return shared_data_dir() / "cub-to-birds525.csv"
