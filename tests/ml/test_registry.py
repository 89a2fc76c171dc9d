"""ml.registry: the active / previous symlinks."""

from __future__ import annotations

from pathlib import Path

import pytest

from ml.registry import activate, active_model_dir, previous_model_dir


def model(root: Path, name: str) -> Path:
    path = root / name
    path.mkdir(parents=True)
    (path / "model.tflite").write_bytes(b"tflite")
    return path


def test_activate_swaps_and_keeps_previous(tmp_path):
    assert active_model_dir(tmp_path) is None
    assert previous_model_dir(tmp_path) is None
    first, second = model(tmp_path, "aaa"), model(tmp_path, "bbb")
    assert activate(first, tmp_path) is None
    assert active_model_dir(tmp_path) == first.resolve()
    assert activate(second, tmp_path) == first.resolve()
    assert active_model_dir(tmp_path) == second.resolve()
    assert previous_model_dir(tmp_path) == first.resolve()
    assert not (tmp_path / "active").readlink().is_absolute()  # the data dir can move
    assert sorted(p.name for p in tmp_path.iterdir()) == ["aaa", "active", "bbb", "previous"]


def test_refuses_non_model_and_ignores_dangling_link(tmp_path):
    with pytest.raises(FileNotFoundError, match="not a model directory"):
        activate(tmp_path / "nothing", tmp_path)
    (tmp_path / "active").symlink_to(tmp_path / "gone")
    assert active_model_dir(tmp_path) is None


def test_default_root_follows_data_dir(tmp_path, monkeypatch):
    monkeypatch.setenv("BIRDSITE_DATA_DIR", str(tmp_path))
    activate(model(tmp_path / "models", "ccc"))
    assert active_model_dir() == (tmp_path / "models" / "ccc").resolve()
