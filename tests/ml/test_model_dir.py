"""ml.model_dir: the one check of a model directory, reading it, and writing it whole."""

from __future__ import annotations

import pytest

from ml.model_dir import (
    KERAS_FILE,
    LABELS_FILE,
    METRICS_FILE,
    REQUIRED_FILES,
    VERSION_FILE,
    ModelDir,
    ModelDirError,
    write_model_dir,
)
from tests.model_dirs import CALIBRATION, fake_model_dir


@pytest.mark.parametrize("name", REQUIRED_FILES)
def test_a_folder_without_a_required_file_is_refused_naming_it(tmp_path, name):
    folder = fake_model_dir(tmp_path, "v1")
    (folder / name).unlink()
    with pytest.raises(ModelDirError, match=f"not a complete model directory: missing {name}$"):
        ModelDir.open(path=folder)


def test_every_missing_file_is_named(tmp_path):
    with pytest.raises(ModelDirError) as caught:
        ModelDir.open(path=tmp_path / "nowhere")
    assert str(caught.value).endswith("missing " + ", ".join(REQUIRED_FILES))


@pytest.mark.parametrize("content", ["not json", '{"created": ""}', "[]"])
def test_a_version_file_without_a_version_is_refused(tmp_path, content):
    folder = fake_model_dir(tmp_path, "v1")
    (folder / VERSION_FILE).write_text(content)
    with pytest.raises(ModelDirError, match=VERSION_FILE):
        ModelDir.open(path=folder)


def test_reading_a_model_dir(tmp_path):
    folder = fake_model_dir(tmp_path, "v1", ["B BIRD", "A BIRD"])
    model = ModelDir.open(path=folder)
    assert (model.path, model.version) == (folder, "v1")
    assert model.species == ["B BIRD", "A BIRD"]  # by label index, not sorted
    assert model.calibration == CALIBRATION
    assert model.metrics == {"weighted_f1": 0.9}
    # optional files: a model made before them reads as having none
    (folder / METRICS_FILE).unlink()
    model = ModelDir.open(path=folder)
    assert model.metrics == {} and model.data_info == {} and model.finder is None


def test_an_unreadable_file_is_named(tmp_path):
    folder = fake_model_dir(tmp_path, "v1")
    (folder / LABELS_FILE).write_text("[{")
    model = ModelDir.open(path=folder)
    with pytest.raises(ModelDirError, match=f"{LABELS_FILE} cannot be read"):
        assert model.species


@pytest.mark.slow
def test_a_trained_model_dir_opens_with_what_it_was_trained_on(small_model_dir):
    from tests.model_fixtures import SMALL_SPECIES

    model = ModelDir.open(path=small_model_dir)
    assert model.version == small_model_dir.name
    assert model.species == sorted(SMALL_SPECIES)
    assert model.finder is not None  # the fixture trains with the bird finder
    assert set(model.data_info["train_counts"]) == set(SMALL_SPECIES)
    assert model.metrics["model_tflite_bytes"] == model.model_file.stat().st_size
    assert {"head_parameters", "serving_parameters", "model_keras_bytes"} <= set(model.metrics)


@pytest.mark.slow
def test_a_failed_write_leaves_nothing_behind(small_model_dir, tmp_path):
    """The files are written after the (slow) export: content that cannot be written then
    leaves no half model directory."""
    from ml.model import load_keras_model

    model = ModelDir.open(path=small_model_dir)
    root = tmp_path / "models"
    with pytest.raises(TypeError, match="not JSON serializable"):
        write_model_dir(
            root=root,
            serving=load_keras_model(small_model_dir / KERAS_FILE),
            labels=model.labels,
            calibration=model.calibration,
            params={},
            history={},
            metrics={},
            data_info={"sources": {"a set"}},
            backbone_id="lite0-test",
        )
    assert list(root.iterdir()) == []
