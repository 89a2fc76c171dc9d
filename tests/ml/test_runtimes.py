"""The serving runtimes (`ml.runtimes`) and the agreement check that lets `auto` use one
(`ml.agreement`): real LiteRT and OpenVINO on real photos, results on disk as the check writes
them."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from ml import agreement, runtimes
from ml.agreement import AgreementResult, AgreementStore, check_engine, check_photos, choose_engine
from ml.config import shared_data_dir
from ml.cpu import cpu_key
from ml.images import load_photo, view_pixels
from ml.model_dir import ModelDir
from ml.predict import Predictor
from ml.runtimes import REFERENCE, Engine, RuntimeUnavailable

REPO = Path(__file__).resolve().parents[2]
OPENVINO = Engine("openvino")
BF16 = Engine("openvino", "bf16")


def test_engines_are_parsed_from_their_names() -> None:
    assert Engine.parse("openvino") == OPENVINO
    assert Engine.parse(" OpenVINO-bf16 ") == BF16
    assert Engine.parse("litert").key == "litert-fp32"
    for bad in ("tensorrt", "openvino-int4", ""):
        with pytest.raises(ValueError, match="unknown runtime"):
            Engine.parse(bad)


def test_the_runtime_asked_for_comes_from_the_environment(monkeypatch) -> None:
    monkeypatch.delenv(runtimes.RUNTIME_ENV, raising=False)
    assert runtimes.requested() == runtimes.AUTO
    monkeypatch.setenv(runtimes.RUNTIME_ENV, "openvino")
    assert runtimes.requested() == "openvino-fp32"
    monkeypatch.setenv(runtimes.RUNTIME_ENV, "gpu")
    with pytest.raises(ValueError, match="unknown runtime"):
        runtimes.requested()


def test_installed_runtimes_are_the_candidates() -> None:
    """The test profile installs OpenVINO (requirements/runtimes.txt): its two precisions are
    candidates. ONNX Runtime is not installed (no ONNX file it loads: ml.runtimes)."""
    assert runtimes.runtime_version("openvino")
    assert runtimes.runtime_version("onnxruntime") is None
    assert runtimes.candidate_engines() == [REFERENCE, OPENVINO, BF16]
    assert runtimes.runtime_version("litert") is not None


def result(
    engine: Engine, *, passed: bool, ms: float, model_version: str = "m1"
) -> AgreementResult:
    return AgreementResult(
        engine=engine.key,
        runtime_version=runtimes.runtime_version(engine.runtime),
        model_version=model_version,
        cpu_key=cpu_key(),
        passed=passed,
        ms_per_photo=ms,
        reference_ms_per_photo=10.0,
    )


def test_auto_chooses_the_fastest_engine_that_passed(tmp_path) -> None:
    store = AgreementStore(tmp_path)
    choice = choose_engine(store=store, model_version="m1", requested="auto")
    assert (choice.engine, choice.unchecked) == (REFERENCE, [OPENVINO, BF16])  # not checked yet
    store.save(result(OPENVINO, passed=True, ms=8.0))
    store.save(result(BF16, passed=False, ms=4.0))  # faster, but it changed answers
    choice = choose_engine(store=store, model_version="m1", requested="auto")
    assert (choice.engine, choice.unchecked) == (OPENVINO, [])
    store.save(result(OPENVINO, passed=True, ms=12.0))  # slower than LiteRT's 10 ms
    assert choose_engine(store=store, model_version="m1", requested="auto").engine == REFERENCE
    store.save(result(OPENVINO, passed=False, ms=8.0))
    assert choose_engine(store=store, model_version="m1", requested="auto").engine == REFERENCE
    # another model is checked on its own; an engine named explicitly is used as asked
    assert choose_engine(store=store, model_version="m2", requested="auto").unchecked
    assert choose_engine(store=store, model_version="m1", requested="openvino-bf16").engine == BF16


def test_results_hold_for_one_runtime_version_and_cpu(tmp_path) -> None:
    store = AgreementStore(tmp_path)
    path = store.save(result(OPENVINO, passed=True, ms=8.0))
    assert path.is_relative_to(
        tmp_path / "m1" / OPENVINO.key / runtimes.runtime_version("openvino")
    )
    assert path.name == f"{cpu_key()}.json"
    found = store.result_for(model_version="m1", engine=OPENVINO)
    assert (found.passed, found.ms_per_photo, found.cpu_key) == (True, 8.0, cpu_key())
    # the same result filed under another CPU (or runtime version) is not this host's
    path.rename(path.with_name("another-cpu-0123456789.json"))
    assert store.result_for(model_version="m1", engine=OPENVINO) is None


def small_check_photos(root: Path, count: int = 4) -> Path:
    """A data folder with the check's layout holding a few real photos of each kind."""
    shared = shared_data_dir()
    for kind in ("field", "birds525"):
        source = sorted((shared / kind / "valid").rglob("*.jpg"))[::40][:count]
        for photo in source:
            target = root / kind / "valid" / photo.parent.name / photo.name
            target.parent.mkdir(parents=True, exist_ok=True)
            target.symlink_to(photo)
    return root


def test_the_check_photos_are_fixed_and_include_full_size_photos(tmp_path) -> None:
    photos = check_photos()
    assert len(photos) == agreement.FIELD_PHOTOS + agreement.CROP_PHOTOS
    assert photos == check_photos()  # the same set every time, on every host
    assert sum("field" in p.parts for p in photos) == agreement.FIELD_PHOTOS
    with pytest.raises(agreement.CheckPhotosMissing, match="BIRDSITE_CHECK_PHOTOS"):
        check_photos(root=tmp_path)


@pytest.mark.slow
def test_openvino_gives_litert_outputs_in_the_same_order(small_model_dir, bird_photo) -> None:
    model_file = small_model_dir / "model.tflite"
    batch = view_pixels(load_photo(bird_photo).image)[None]
    ours = runtimes.load_model(model_file=model_file, engine=REFERENCE, threads=1).run(batch)
    theirs = runtimes.load_model(model_file=model_file, engine=OPENVINO, threads=1).run(batch)
    assert [a.shape for a in ours] == [b.shape for b in theirs]
    for a, b in zip(ours, theirs, strict=True):
        np.testing.assert_allclose(a, b, atol=agreement.TOLERANCE)


@pytest.mark.slow
def test_a_runtime_that_is_not_installed_is_refused(small_model_dir) -> None:
    with pytest.raises(RuntimeUnavailable, match="onnxruntime is not installed"):
        Predictor.load(small_model_dir, engine=Engine("onnxruntime"))


@pytest.mark.slow
def test_the_check_judges_openvino_on_real_photos(tmp_path, small_model_dir) -> None:
    photos = check_photos(root=small_check_photos(tmp_path / "photos"))
    checked = check_engine(model_dir=small_model_dir, engine=OPENVINO, photos=photos)
    assert checked.passed and checked.error is None, checked
    assert checked.agreement == checked.top1_agreement == 1.0
    assert 0 <= checked.max_probability_diff <= agreement.TOLERANCE
    assert checked.ms_per_photo > 0 and checked.reference_ms_per_photo > 0
    assert checked.photos == len(photos) == 8
    assert AgreementResult.from_json(checked.to_json()) == checked


@pytest.mark.slow
def test_check_runtimes_saves_a_result_per_candidate(tmp_path, small_model_dir) -> None:
    photos = small_check_photos(tmp_path / "photos")
    store = tmp_path / "store"
    command = [sys.executable, "-m", "ml", "check_runtimes", "-v", "0", "--model"]
    done = subprocess.run(
        [*command, str(small_model_dir), "--store", str(store), "--photos", str(photos)],
        cwd=REPO,
        capture_output=True,
        text=True,
        check=True,
    )
    assert "auto serves on" in done.stdout
    saved = AgreementStore(store)
    version = ModelDir.open(path=small_model_dir).version
    for engine in (OPENVINO, BF16):
        assert saved.result_for(model_version=version, engine=engine) is not None
    # a folder that is not a model directory: a clear error, nothing written
    missing = subprocess.run(
        [*command, str(tmp_path / "nothing"), "--store", str(tmp_path / "empty")],
        cwd=REPO,
        capture_output=True,
        text=True,
    )
    assert missing.returncode == 1 and "not a complete model directory" in missing.stderr
    assert not (tmp_path / "empty").exists()


def test_the_check_runs_without_the_training_packages() -> None:
    """The web image has no TensorFlow, scikit-learn or Hyperopt, and its workers start the
    check as `python -m ml check_runtimes`."""
    code = (
        "import runpy, sys\n"
        "class Block:\n"
        "    def find_spec(self, name, path=None, target=None):\n"
        "        if name.split('.')[0] in {'tensorflow', 'keras', 'sklearn', 'hyperopt'}:\n"
        "            raise ImportError(name)\n"
        "sys.meta_path.insert(0, Block())\n"
        "sys.argv = ['ml', 'check_runtimes', '--help']\n"
        "runpy.run_module('ml', run_name='__main__')\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, check=False
    )
    assert done.returncode == 0 and "--model" in done.stdout, done.stderr[-2000:]
