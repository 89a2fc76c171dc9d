"""Atomic writes: a reader (or a run killed half-way) sees a file or folder whole, old or new.

A file is written to a hidden temp file beside it, synced, then renamed over it (`os.replace`).
A folder is built in a hidden staging dir beside its final place, then renamed in whole. Temp
names start with a dot, so a failed write never leaves anything under the real name; the
results are world-readable (web workers may run as another user than the writer).
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

FILE_MODE = 0o644
DIR_MODE = 0o755


@contextlib.contextmanager
def replacing(*, path: str | os.PathLike) -> Iterator[Path]:
    """Yield a temp path beside `path`; it replaces `path` only if the block succeeds.

    The temp name keeps the final suffixes (Keras insists on `.weights.h5`)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, name = tempfile.mkstemp(
        dir=path.parent, prefix=f".{path.name}.", suffix="".join(path.suffixes)
    )
    os.close(fd)
    tmp = Path(name)
    try:
        yield tmp
        _fsync(tmp)
        tmp.chmod(FILE_MODE)
        os.replace(tmp, path)
        _fsync(path.parent)
    finally:
        tmp.unlink(missing_ok=True)


def write_bytes(*, path: str | os.PathLike, data: bytes) -> None:
    """Replace `path` by `data` all at once."""
    with replacing(path=path) as tmp:
        tmp.write_bytes(data)


def write_json(*, path: str | os.PathLike, value: Any) -> None:
    """Replace `path` by `value` as indented JSON (keys sorted, so reruns diff cleanly)."""
    write_bytes(path=path, data=(json.dumps(value, indent=2, sort_keys=True) + "\n").encode())


@contextlib.contextmanager
def staging_dir(*, parent: str | os.PathLike) -> Iterator[Path]:
    """Yield an empty hidden dir in `parent` to build a folder in; whatever `swap_in` did not
    move into place is removed on the way out (a failed build leaves nothing)."""
    parent = Path(parent)
    parent.mkdir(parents=True, exist_ok=True)
    staged = Path(tempfile.mkdtemp(prefix=".staging-", dir=parent))
    try:
        yield staged
    finally:
        shutil.rmtree(staged, ignore_errors=True)


def swap_in(*, staged: Path, target: Path, replace: bool = True) -> Path:
    """Rename the folder built in `staged` to `target`; returns `target`.

    An existing `target` is replaced (`replace`) or kept as it is (then `staged` is left for
    `staging_dir` to remove). Both sit in the same folder, so each rename is atomic; replacing
    renames the old folder aside first, so for a moment `target` does not exist. The folder and
    its files are made world-readable (so never stage hard links to files of others)."""
    if target.exists() and not replace:
        return target
    staged.chmod(DIR_MODE)
    for path in staged.rglob("*"):
        path.chmod(DIR_MODE if path.is_dir() else FILE_MODE)
    old = target.with_name(f".{target.name}-old")
    shutil.rmtree(old, ignore_errors=True)
    if target.exists():
        os.rename(target, old)
    os.rename(staged, target)
    shutil.rmtree(old, ignore_errors=True)
    return target


def _fsync(path: Path) -> None:
    """Flush a file's (or a folder's entries') writes to disk: the rename survives a crash."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
