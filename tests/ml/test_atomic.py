"""ml.atomic: files and folders appear whole or not at all, and a failure leaves nothing."""

from __future__ import annotations

import json
import stat
from pathlib import Path

import pytest

from ml.atomic import replacing, staging_dir, swap_in, write_bytes, write_json


def mode(path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_write_bytes_replaces_the_file_whole_and_leaves_no_temp_file(tmp_path):
    path = tmp_path / "deep" / "trials.pkl"
    write_bytes(path=path, data=b"old")
    write_bytes(path=path, data=b"new")
    assert path.read_bytes() == b"new"
    assert [p.name for p in path.parent.iterdir()] == ["trials.pkl"]
    assert mode(path) == 0o644  # readable by web workers running as another user


def test_write_json_sorts_keys(tmp_path):
    write_json(path=tmp_path / "run.json", value={"b": 1, "a": [1, 2]})
    text = (tmp_path / "run.json").read_text()
    assert json.loads(text) == {"a": [1, 2], "b": 1} and text.index('"a"') < text.index('"b"')


def test_a_failed_write_keeps_the_old_file(tmp_path):
    path = tmp_path / "lite0.weights.h5"
    path.write_bytes(b"old")
    with pytest.raises(RuntimeError), replacing(path=path) as tmp:
        assert tmp.name.startswith(".") and tmp.name.endswith(".weights.h5")
        tmp.write_bytes(b"half")
        raise RuntimeError("killed")
    assert path.read_bytes() == b"old"
    assert [p.name for p in tmp_path.iterdir()] == ["lite0.weights.h5"]


def swapped(parent: Path, *, existing: str, staged_file: str, replace: bool = True) -> Path:
    """`parent/target` holding `existing`, after swapping in a staged folder holding
    `staged_file`."""
    target = parent / "target"
    target.mkdir()
    (target / existing).write_text("old")
    with staging_dir(parent=parent) as staged:
        (staged / staged_file).write_text("new")
        assert swap_in(staged=staged, target=target, replace=replace) == target
    return target


def test_swap_in_replaces_a_folder_whole(tmp_path):
    target = swapped(tmp_path, existing="stale.json", staged_file="finder.json")
    assert [p.name for p in target.iterdir()] == ["finder.json"]
    assert [p.name for p in tmp_path.iterdir()] == ["target"]
    assert mode(target) == 0o755 and mode(target / "finder.json") == 0o644


def test_swap_in_can_keep_an_existing_folder(tmp_path):
    target = swapped(tmp_path, existing="first", staged_file="second", replace=False)
    assert [p.name for p in target.iterdir()] == ["first"]
    assert [p.name for p in tmp_path.iterdir()] == ["target"]


def test_a_failed_build_leaves_nothing(tmp_path):
    with pytest.raises(RuntimeError), staging_dir(parent=tmp_path / "models") as staged:
        (staged / "model.tflite").write_bytes(b"half")
        raise RuntimeError("killed")
    assert list((tmp_path / "models").iterdir()) == []
