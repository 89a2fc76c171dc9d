"""The site's runtime choice (`classifier.active_model` with `ml.agreement`): with `auto` a worker
serves on LiteRT while a separate process checks the other engines on real photos, then on the
engine the check chose; an engine that cannot run here falls back to LiteRT. Real runtimes,
a real check process."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from classifier import active_model
from ml.agreement import AgreementStore, choose_engine
from ml.model_dir import ModelDir
from ml.registry import activate
from ml.runtimes import REFERENCE, Engine, candidate_engines
from tests.ml.test_runtimes import small_check_photos

pytestmark = pytest.mark.slow


@pytest.fixture
def site_model(settings, tmp_path: Path, small_model_dir: Path, monkeypatch) -> ModelDir:
    """The small model active in a data dir of the test's own, checked on a few real photos."""
    monkeypatch.setenv("BIRDSITE_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("BIRDSITE_CHECK_PHOTOS", str(small_check_photos(tmp_path / "photos")))
    monkeypatch.setattr(active_model, "RECHECK_SECONDS", 0.0)
    settings.MODELS_DIR = tmp_path / "data" / "models"
    activate(model_dir=small_model_dir, models_root=settings.MODELS_DIR)
    active_model.reset_predictor()
    yield ModelDir.open(path=small_model_dir)
    active_model.reset_predictor()


def wait_for_results(store: AgreementStore, model: ModelDir, timeout: float = 180.0) -> None:
    engines = [e for e in candidate_engines() if e != REFERENCE]
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if all(store.result_for(model_version=model.version, engine=e) for e in engines):
            return
        time.sleep(0.5)
    pytest.fail(f"the runtime check wrote no results for {engines} within {timeout} s")


def test_auto_serves_on_litert_until_the_check_chose(settings, site_model, bird_photo) -> None:
    settings.MODEL_RUNTIME = "auto"
    store = AgreementStore.default()
    first = active_model.get_predictor()
    assert first.engine == REFERENCE  # nothing is checked yet on this host
    assert active_model.predict(image=bird_photo.read_bytes()).suggestions
    wait_for_results(store, site_model)  # the worker started the check by itself
    chosen = choose_engine(store=store, model_version=site_model.version, requested="auto")
    assert not chosen.unchecked
    # the check's lock: the results exist only once the process is done with this model
    with store.lock(model_version=site_model.version):
        served = active_model.get_predictor()
    assert served.engine == chosen.engine
    assert active_model.predict(image=bird_photo.read_bytes()).model_version == site_model.version


def test_an_engine_that_cannot_run_here_falls_back_to_litert(settings, site_model, bird_photo):
    settings.MODEL_RUNTIME = "onnxruntime"  # not installed here (no ONNX file it loads)
    assert active_model.get_predictor().engine == REFERENCE
    assert active_model.predict(image=bird_photo.read_bytes()).suggestions
    settings.MODEL_RUNTIME = "openvino"  # a real second runtime, asked for by name
    assert active_model.get_predictor().engine == Engine("openvino")
