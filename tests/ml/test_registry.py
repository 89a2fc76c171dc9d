"""ml.registry: the active / previous symlinks."""

from __future__ import annotations

import pytest

from ml.model_dir import CALIBRATION_FILE, ModelDirError
from ml.registry import activate, active_model_dir, previous_model_dir
from tests.model_dirs import fake_model_dir


def test_activate_swaps_and_keeps_previous(tmp_path):
    assert active_model_dir(models_root=tmp_path) is None
    assert previous_model_dir(models_root=tmp_path) is None
    first, second = fake_model_dir(tmp_path, "aaa"), fake_model_dir(tmp_path, "bbb")
    assert activate(model_dir=first, models_root=tmp_path) is None
    assert active_model_dir(models_root=tmp_path) == first.resolve()
    assert activate(model_dir=second, models_root=tmp_path) == first.resolve()
    assert active_model_dir(models_root=tmp_path) == second.resolve()
    assert previous_model_dir(models_root=tmp_path) == first.resolve()
    assert not (tmp_path / "active").readlink().is_absolute()  # the data dir can move
    assert sorted(p.name for p in tmp_path.iterdir()) == ["aaa", "active", "bbb", "previous"]


def test_refuses_non_model_and_ignores_dangling_link(tmp_path):
    with pytest.raises(ModelDirError, match="not a complete model directory"):
        activate(model_dir=tmp_path / "nothing", models_root=tmp_path)
    (tmp_path / "active").symlink_to(tmp_path / "gone")
    assert active_model_dir(models_root=tmp_path) is None


def test_a_link_to_a_folder_that_is_no_longer_a_model_dir_is_no_active_model(tmp_path):
    model = fake_model_dir(tmp_path, "aaa")
    activate(model_dir=model, models_root=tmp_path)
    (model / CALIBRATION_FILE).unlink()
    assert active_model_dir(models_root=tmp_path) is None


def test_default_root_follows_data_dir(tmp_path, monkeypatch):
    monkeypatch.setenv("BIRDSITE_DATA_DIR", str(tmp_path))
    activate(model_dir=fake_model_dir(tmp_path / "models", "ccc"))
    assert active_model_dir() == (tmp_path / "models" / "ccc").resolve()
