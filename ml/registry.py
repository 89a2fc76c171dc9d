"""Which model the site serves: the `active` symlink under the models dir (`previous` keeps the
former one, for rollback)."""

from __future__ import annotations

import os
from pathlib import Path

from ml.config import models_dir
from ml.model_dir import ModelDir, ModelDirError

ACTIVE = "active"
PREVIOUS = "previous"


def active_model_dir(*, models_root: Path | None = None) -> Path | None:
    """The served model directory, or None when there is none (the link is dangling, or what it
    points to is not a model directory)."""
    return _linked_model_dir((models_root or models_dir()) / ACTIVE)


def previous_model_dir(*, models_root: Path | None = None) -> Path | None:
    """The model directory served before the active one: what a rollback returns to."""
    return _linked_model_dir((models_root or models_dir()) / PREVIOUS)


def _linked_model_dir(link: Path) -> Path | None:
    if not link.is_symlink() and not link.is_dir():
        return None
    target = link.resolve()
    try:
        ModelDir.open(path=target)
    except ModelDirError:
        return None
    return target


def activate(*, model_dir: Path, models_root: Path | None = None) -> Path | None:
    """Point `active` at model_dir atomically (temp symlink + os.replace); the former target
    becomes `previous`. Returns the former target (or None). Raises ModelDirError for a folder
    that is not a model directory.

    Only the link swap: the site activates through `classifier.promotion.activate_model`,
    which also checks the species and records the switch."""
    model_dir = ModelDir.open(path=Path(model_dir).resolve()).path
    root = models_root or models_dir()
    root.mkdir(parents=True, exist_ok=True)
    former = active_model_dir(models_root=root)
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
