"""Pixel bombs are refused from the header: in milliseconds, without the memory to decode them.

Measured in a fresh subprocess, so the peak resident memory (`ru_maxrss`) is that of the
refusal alone and not of whatever the test session allocated before.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from tests.api.photos import pixel_bomb
from tests.conftest import REPO

# Runs in the subprocess: reads the bomb from stdin, prints what happened as JSON.
PROBE = """
import json, resource, sys, time
import django
django.setup()
from classifier.uploads import UploadRejected, prepare_photo
from ml.images import ImageRejected, load_rgb

data = sys.stdin.buffer.read()
report = {}
for name, call, expected in (
    ("load_rgb", lambda: load_rgb(data), ImageRejected),
    ("prepare_photo", lambda: prepare_photo(data=data), UploadRejected),
):
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    started = time.perf_counter()
    try:
        call()
        outcome = "accepted"
    except expected as error:
        outcome = f"{type(error).__name__}: {error}"
    report[name] = {
        "ms": (time.perf_counter() - started) * 1000,
        "rss_growth_mb": (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before) / 1024,
        "outcome": outcome,
    }
print(json.dumps(report))
"""


@pytest.fixture(scope="module")
def refusal() -> dict:
    done = subprocess.run(
        [sys.executable, "-c", PROBE],
        input=pixel_bomb(30000, 30000),
        capture_output=True,
        cwd=REPO,
        env={**os.environ, "DJANGO_SETTINGS_MODULE": "birdsite.test_settings"},
        check=True,
        timeout=120,
    )
    return json.loads(done.stdout)


@pytest.mark.parametrize("layer", ["load_rgb", "prepare_photo"])
def test_a_900_megapixel_png_is_refused_in_milliseconds_without_memory(refusal, layer):
    result = refusal[layer]
    assert result["outcome"].startswith(("ImageTooLarge", "TooManyPixels")), result
    assert "pixels" in result["outcome"]
    assert result["ms"] < 50, result
    assert result["rss_growth_mb"] < 20, result
