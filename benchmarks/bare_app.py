"""The ceiling for a Python server: a bare WSGI app that only decodes and predicts.

`bench_serve` runs it under gunicorn (the project's config) beside the site, with the same
model, engine and clients: what the site's stack costs on top of the model is the difference.
No Django, no database, no cache, no storage, no auth, no logging: read the photo out of the
multipart body, predict, answer with the top species as JSON.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Iterable

from ml.predict import Predictor
from ml.runtimes import Engine

MODEL_ENV = "BIRDSITE_BARE_MODEL_DIR"
ENGINE_ENV = "BIRDSITE_BARE_ENGINE"

_predictor: Predictor | None = None


def predictor() -> Predictor:
    """Loaded once per worker, on its first request (as the site's workers do)."""
    global _predictor
    if _predictor is None:
        _predictor = Predictor.load(
            os.environ[MODEL_ENV], engine=Engine.parse(os.environ[ENGINE_ENV])
        )
    return _predictor


def first_file(body: bytes, content_type: str) -> bytes:
    """The content of the first part of a multipart/form-data body."""
    boundary = content_type.split("boundary=", 1)[1].strip('"').encode()
    part = body.split(b"--" + boundary, 2)[1]
    return part.split(b"\r\n\r\n", 1)[1].removesuffix(b"\r\n")


def application(environ: dict, start_response: Callable) -> Iterable[bytes]:
    length = int(environ.get("CONTENT_LENGTH") or 0)
    body = environ["wsgi.input"].read(length)
    prediction = predictor().predict(first_file(body, environ.get("CONTENT_TYPE", "")))
    answer = json.dumps(
        {
            "verdict": str(prediction.verdict),
            "predictions": [
                {"species": s.name, "probability": s.probability} for s in prediction.suggestions
            ],
        }
    ).encode()
    start_response(
        "200 OK", [("Content-Type", "application/json"), ("Content-Length", str(len(answer)))]
    )
    return [answer]
