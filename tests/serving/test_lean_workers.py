"""Web workers serve predictions with their one runtime alone: no TensorFlow, no Keras, and no
other runtime (an OpenVINO worker never loads LiteRT's interpreter), in a real gunicorn.

Proved from outside the workers, two ways: the modules each worker had loaded right after
serving a prediction (a `post_request` hook of the test's gunicorn config, which otherwise is
the project's), and the shared objects mapped into each worker (`/proc/<pid>/maps`).
"""

from __future__ import annotations

import json
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
import requests

from benchmarks.stack import worker_pids
from tests.support.serving_stack import Stack, serving_stack

PROBE_CONFIG = Path(__file__).with_name("gunicorn_probe.conf.py")
FORBIDDEN = ("tensorflow", "keras", "tf_keras")


def forbidden_modules(modules: list[str]) -> list[str]:
    return [m for m in modules if m.split(".")[0] in FORBIDDEN]


def forbidden_objects(pid: int) -> list[str]:
    """Mapped files of TensorFlow or Keras (LiteRT's own `ai_edge_litert` objects are fine, and so
    is OpenVINO's reader of TensorFlow's file formats, `openvino/frontend/tensorflow`)."""
    paths = {line.split()[-1] for line in Path(f"/proc/{pid}/maps").read_text().splitlines()}
    return sorted(
        p
        for p in paths
        if ("/site-packages/tensorflow/" in p or "/keras/" in p or "libtensorflow" in p)
    )


def predict_until_every_worker_served(stack: Stack, photo: Path, modules_dir: Path) -> None:
    """POST predictions, each on a new connection (so both workers get some), until each worker
    has written its module list."""
    headers = {"Authorization": f"Token {stack.token}", "Connection": "close"}

    def predict(_: int) -> None:
        files = {"image": (photo.name, photo.read_bytes(), "image/jpeg")}
        response = requests.post(
            f"{stack.base_url}/api/v1/predict/", files=files, headers=headers, timeout=30
        )
        assert response.status_code == 200, response.text[:500]
        assert response.json()["predictions"]

    deadline = time.monotonic() + 60
    with ThreadPoolExecutor(4) as pool:
        while time.monotonic() < deadline:
            list(pool.map(predict, range(4)))
            pids = worker_pids(stack.master_pid)
            if pids and all((modules_dir / f"{pid}.json").exists() for pid in pids):
                return
    pytest.fail("not every worker served a prediction within 60 s")


# runtime -> (a module only a worker on it loads, a module of the other runtime it must not load)
RUNTIME_MODULES = {
    "litert": ("ai_edge_litert.interpreter", "openvino"),
    "openvino": ("openvino", "ai_edge_litert.interpreter"),
}


@pytest.mark.slow
@pytest.mark.parametrize("runtime", sorted(RUNTIME_MODULES))
def test_workers_predict_without_tensorflow(
    tmp_path, small_model_dir, s3_endpoint, bird_photo, runtime
):
    used, unused = RUNTIME_MODULES[runtime]
    modules_dir = tmp_path / "modules"
    modules_dir.mkdir()
    with serving_stack(
        tmp_path,
        small_model_dir,
        s3_endpoint=s3_endpoint,
        config=PROBE_CONFIG,
        workers=2,
        BIRDSITE_TEST_MODULES_DIR=str(modules_dir),
        BIRDSITE_PREDICT_USER_RATE="100000/min",
        BIRDSITE_RUNTIME=runtime,
    ) as stack:
        predict_until_every_worker_served(stack, bird_photo, modules_dir)
        pids = worker_pids(stack.master_pid)
        assert len(pids) == 2
        for pid in pids:
            modules = json.loads((modules_dir / f"{pid}.json").read_text())
            assert used in modules  # the model really ran here, on this runtime
            assert unused not in modules
            assert "ml.predict" in modules
            assert forbidden_modules(modules) == []
            assert forbidden_objects(pid) == []
