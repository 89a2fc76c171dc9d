"""Which model the site serves: the `active` symlink under the models dir (`previous` keeps the
former one, for rollback)."""

from __future__ import annotations

import os
from pathlib import Path

from ml.config import models_dir

ACTIVE = "active"
PREVIOUS = "previous"


def active_model_dir(models_root: Path | None = None) -> Path | None:
    """The served model directory, or None when there is none (or the link is dangling)."""
    return _linked_model_dir((models_root or models_dir()) / ACTIVE)


def previous_model_dir(models_root: Path | None = None) -> Path | None:
    """The model directory served before the active one: what a rollback returns to."""
    return _linked_model_dir((models_root or models_dir()) / PREVIOUS)


def _linked_model_dir(link: Path) -> Path | None:
    if not link.is_symlink() and not link.is_dir():
        return None
    target = link.resolve()
    return target if (target / "model.tflite").is_file() else None


def activate(model_dir: Path, models_root: Path | None = None) -> Path:
    """Point `active` at model_dir atomically (temp symlink + os.replace); the former target
    becomes `previous`. Returns the former target (or None)."""
    model_dir = Path(model_dir).resolve()
    if not (model_dir / "model.tflite").is_file():
        raise FileNotFoundError(f"{model_dir} is not a model directory (no model.tflite)")
    root = models_root or models_dir()
    root.mkdir(parents=True, exist_ok=True)
    former = active_model_dir(root)
    if former is not None and former != model_dir:
        _swap_link(root / PREVIOUS, former)
    _swap_link(root / ACTIVE, model_dir)
    return former


def _swap_link(link: Path, target: Path) -> None:
    tmp = link.with_name(f".{link.name}.{os.getpid()}.tmp")
    tmp.unlink(missing_ok=True)
    # relative when inside the models root, so the whole data dir can be moved
    try:
        pointer = (
            os.path.relpath(target, link.parent)
            if target.is_relative_to(link.parent.resolve())
            else target
        )
    except ValueError:
        pointer = target
    os.symlink(pointer, tmp)
    os.replace(tmp, link)
