"""TensorFlow's start-up lines stay out of the commands' output unless asked for (ml.tf_logs)."""

from __future__ import annotations

import logging
import os
import subprocess
import sys
from pathlib import Path

import pytest

from ml import tf_logs

REPO = Path(__file__).resolve().parent.parent.parent
IMPORT_AND_WARN = (
    "import sys, ml, tensorflow as tf; "
    "tf.constant(1.0); print('W1207 12:00:00.000001 1 ours.cc:1] a warning', file=sys.stderr)"
)


def stderr_lines(**env: str) -> list[str]:
    # not the level this test process's own `import ml` set (ml.tf_logs.quiet): with it inherited,
    # TensorFlow logs nothing before absl starts and so prints no notice to look for
    inherited = {k: v for k, v in os.environ.items() if k != "TF_CPP_MIN_LOG_LEVEL"}
    done = subprocess.run(
        [sys.executable, "-c", IMPORT_AND_WARN],
        cwd=REPO,
        env={**inherited, "PYTHONPATH": str(REPO), **env},
        capture_output=True,
        text=True,
        check=True,
    )
    return done.stderr.splitlines()


def test_absl_start_up_lines_go_and_everything_else_stays() -> None:
    text = (
        "WARNING: All log messages before absl::InitializeLog() is called are written to STDERR\n"
        "I0000 00:00:1796656925.031645    8116 port.cc:153] oneDNN custom operations are on.\n"
        "E0000 00:00:1796656925.031645    8116 port.cc:153] an error\n"
        "Traceback (most recent call last):\n"
    )
    assert tf_logs.without_start_up_lines(text) == (
        "E0000 00:00:1796656925.031645    8116 port.cc:153] an error\n"
        "Traceback (most recent call last):\n"
    )


@pytest.mark.slow
def test_importing_tensorflow_prints_nothing_unless_asked() -> None:
    assert stderr_lines(BIRDSITE_TF_LOGS="0") == ["W1207 12:00:00.000001 1 ours.cc:1] a warning"]
    shown = stderr_lines(BIRDSITE_TF_LOGS="1")
    assert any("absl::InitializeLog" in line for line in shown)


def test_the_retracing_notice_of_a_new_model_is_left_out() -> None:
    logger = logging.getLogger("tensorflow")

    def passes(message: str) -> bool:
        return bool(logger.filter(logger.makeRecord("tensorflow", 30, "f", 1, message, (), None)))

    assert not passes("5 out of the last 5 calls to <function f> triggered tf.function retracing.")
    assert passes("Skipping variable loading for optimizer 'adam'")
