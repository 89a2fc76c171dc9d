"""How many threads a model runtime uses per run: env ``BIRDSITE_MODEL_THREADS``, else every CPU.

One owner for the setting, read by every runtime (``ml.litert``, ``ml.openvino_runtime``);
gunicorn's config shares the cores out among its workers through it.
"""

from __future__ import annotations

import os

THREADS_ENV = "BIRDSITE_MODEL_THREADS"


def default_threads() -> int:
    env = os.environ.get(THREADS_ENV, "").strip()
    if not env:
        return os.cpu_count() or 1
    if not env.isdigit() or int(env) < 1:
        raise ValueError(f"{THREADS_ENV} must be a positive integer, got {env!r}")
    return int(env)
