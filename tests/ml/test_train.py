"""Training end to end on real photos, the model directory, and the Predictor (slow: TensorFlow)."""

from __future__ import annotations

import json
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import pytest

from ml.data import DatasetError

pytestmark = pytest.mark.slow

MODEL_FILES = {
    "model.tflite",
    "model.keras",
    "labels.json",
    "calibration.json",
    "params.json",
    "history.json",
    "metrics.json",
    "data.json",
    "version.json",
}


def test_model_directory_is_complete(small_model_dir):
    assert {p.name for p in small_model_dir.iterdir()} >= MODEL_FILES
    version = json.loads((small_model_dir / "version.json").read_text())
    assert version["version"] == small_model_dir.name and version["backbone"] == "lite0"
    labels = json.loads((small_model_dir / "labels.json").read_text())
    assert [label["index"] for label in labels] == list(range(8))
    assert labels[0]["name"] == "AMERICAN FLAMINGO" and labels[0]["scientific_name"]
    calibration = json.loads((small_model_dir / "calibration.json").read_text())
    assert {"temperature", "no_bird_threshold", "uncertain_threshold"} <= set(calibration)
    data = json.loads((small_model_dir / "data.json").read_text())
    assert set(data["train_counts"].values()) == {4} and set(data["held_out_counts"].values()) == {
        1
    }
    assert not [p for p in small_model_dir.parent.iterdir() if p.name.startswith(".")]


def test_tflite_and_keras_serving_models_agree(small_model_dir, held_out_photos):
    from ml.images import load_rgb
    from ml.litert import LiteRTModel
    from ml.model import load_keras_model

    pixels = np.stack([load_rgb(path) for path, _ in held_out_photos]).astype(np.float32)
    keras_species, keras_bird, *_ = load_keras_model(small_model_dir / "model.keras").predict(
        pixels, verbose=0
    )
    lite = LiteRTModel(small_model_dir / "model.tflite")
    for i, row in enumerate(pixels):
        species, bird, bird_map, pooled = lite.run(row[None])
        assert bird_map.shape == (1, 7, 7) and pooled.shape == (1, 1280)
        assert species.argmax() == keras_species[i].argmax()
        assert np.abs(species[0] - keras_species[i]).max() < 1e-3
        assert abs(float(bird.reshape(-1)[0]) - float(keras_bird[i, 0])) < 1e-3


def test_predictor_names_unseen_photos(small_model_dir, held_out_photos):
    from ml.predict import Predictor

    predictor = Predictor.load(small_model_dir)
    results = [(predictor.predict(path), species) for path, species in held_out_photos]
    right = sum(result.suggestions[0].name == species for result, species in results)
    assert right >= len(results) - 1, [(r.suggestions[0].name, s) for r, s in results]
    assert all(
        r.verdict != "no_bird" and r.model_version == small_model_dir.name for r, _ in results
    )
    assert all(abs(sum(s.probability for s in r.suggestions) - 1) < 1e-3 for r, _ in results)
    assert len(results[0][0].suggestions) == 5 and results[0][0].latency_ms > 0


def test_predictor_says_no_bird_for_a_non_bird_photo(small_model_dir):
    from ml.benchmark import skimage_photos
    from ml.predict import Predictor

    predictor = Predictor.load(small_model_dir)
    for photo in skimage_photos(("rocket", "coffee")).values():
        assert predictor.predict(photo).verdict == "no_bird"


def test_predictor_is_thread_safe(small_model_dir, held_out_photos):
    from ml.predict import Predictor

    predictor = Predictor.load(small_model_dir)
    paths = [path for path, _ in held_out_photos] * 3
    expected = [predictor.predict(p).suggestions[0].probability for p in paths]
    with ThreadPoolExecutor(4) as pool:
        got = list(pool.map(lambda p: predictor.predict(p).suggestions[0].probability, paths))
    assert np.allclose(got, expected, atol=1e-6)


def test_predictor_never_imports_tensorflow(small_model_dir, held_out_photo):
    code = (
        "import sys; from ml.predict import Predictor; "
        f"p = Predictor.load({str(small_model_dir)!r}); p.predict({str(held_out_photo[0])!r}); "
        "assert 'tensorflow' not in sys.modules and 'keras' not in sys.modules, 'TF imported'"
    )
    subprocess.run([sys.executable, "-c", code], check=True, cwd=Path(__file__).parents[2])


def test_bad_input_gives_a_clear_error_and_no_model_dir(tmp_path):
    from ml.train import train_model

    out = tmp_path / "models"
    with pytest.raises(DatasetError, match="not found"):
        train_model(tmp_path / "missing", out_dir=out, log=lambda *_: None)
    (tmp_path / "empty" / "train" / "SOME BIRD").mkdir(parents=True)
    (tmp_path / "empty" / "train" / "SOME BIRD" / "broken.jpg").write_bytes(b"not a jpeg")
    with pytest.raises(DatasetError, match="No readable training photo"):
        train_model(tmp_path / "empty", out_dir=out, progress=False, log=lambda *_: None)
    assert not out.exists() or not any(out.iterdir())


def test_train_model_command_writes_a_model_dir_and_a_summary(tmp_path, capsys):
    from django.core.management import call_command

    from tests.model_fixtures import BIRDS525, SMALL_SPECIES

    params = tmp_path / "params.json"
    params.write_text(json.dumps({"epochs": 5, "patience": 5, "train_views": 1, "dense1": 64}))
    out = tmp_path / "models"
    call_command(
        "train_model",
        data=[BIRDS525],
        out=str(out),
        params=str(params),
        species=SMALL_SPECIES[:3],
        per_class=3,
    )
    printed = capsys.readouterr().out
    (model_dir,) = out.iterdir()
    assert "holding out 1 photo in 5 per species" in printed
    assert f"Model {model_dir.name}: held-out accuracy" in printed
    assert len(json.loads((model_dir / "labels.json").read_text())) == 3
    assert json.loads((model_dir / "params.json").read_text())["dense1"] == 64
    assert json.loads((model_dir / "data.json").read_text())["train_counts"] == dict.fromkeys(
        sorted(SMALL_SPECIES[:3]), 3
    )


def test_train_model_command_trains_on_several_folders_without_the_hold_out(tmp_path, capsys):
    """A catalogue plus an added folder renamed through the name map; a species outside the
    catalogue is reported and never trained on, its train photos alone choose the open-set rule;
    the hold-out's photos and their crops (other names) are left out."""
    from django.core.management import call_command

    from tests.ml.photos import BIRDS525, CUB100, FIELD, NAME_MAP
    from tests.ml.test_sources import CATALOGUE, OUTSIDE, linked_copy

    cub = linked_copy(CUB100, tmp_path / "cub", ["AMERICAN GOLDFINCH", "ANNA HUMMINGBIRD", OUTSIDE])
    field = linked_copy(FIELD, tmp_path / "field", ["AMERICAN GOLDFINCH"], rename=False)
    params = tmp_path / "params.json"
    params.write_text(json.dumps({"epochs": 5, "patience": 5, "train_views": 2, "dense1": 64}))
    out = tmp_path / "models"
    call_command(
        "train_model",
        data=[BIRDS525, cub, field],
        names=NAME_MAP,
        hold_out=[field / "valid"],
        out=str(out),
        params=str(params),
        species=CATALOGUE,
    )
    printed = capsys.readouterr().out
    assert f"1 species outside the catalogue, not trained on: {OUTSIDE}" in printed
    (model_dir,) = out.iterdir()
    assert len(json.loads((model_dir / "labels.json").read_text())) == 3
    data = json.loads((model_dir / "data.json").read_text())
    # 4 BIRDS-525 photos each; goldfinch: 30 + 30 train photos (valid held out), hummingbird 45
    assert data["train_counts"] == {
        "ABBOTTS BABBLER": 4,
        "AMERICAN GOLDFINCH": 64,
        "ANNAS HUMMINGBIRD": 49,
    }
    by_path = {r.get("path"): r for r in data["sources"]}
    assert by_path[str(cub.resolve())]["held_out"] == 15
    assert by_path[str(field.resolve())]["held_out"] == 15
    assert all(r["fingerprint"] for r in data["sources"] if "path" in r)
    open_set = json.loads((model_dir / "calibration.json").read_text())["open_set"]
    assert open_set["unknown_photos"] == 30  # OUTSIDE's train photos, not its valid ones
    calibration = json.loads((model_dir / "calibration.json").read_text())
    assert calibration["uncertain_threshold"] >= open_set["threshold"]
    # figures on photos it trained on are refused; the held-out split can be judged
    from django.core.management import CommandError

    with pytest.raises(CommandError, match="was trained on the photos of"):
        call_command(
            "evaluate", str(model_dir), data=str(cub), split="valid", out=str(tmp_path / "r1")
        )
    call_command(
        "evaluate", str(model_dir), data=str(field), split="valid", out=str(tmp_path / "r2")
    )
    assert (tmp_path / "r2" / "metrics.json").is_file()
