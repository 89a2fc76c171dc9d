"""`python -m ml`: the pipeline's commands without Django settings, with clear errors."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from ml.__main__ import COMMANDS
from ml.config import shared_data_dir
from ml.metrics import METRIC_KEYS
from tests.ml.test_sources import linked_copy
from tests.model_fixtures import BIRDS525

REPO = Path(__file__).resolve().parents[2]


def python_m_ml(*args: str, **env: str) -> subprocess.CompletedProcess:
    """`python -m ml ...` in an environment with no Django settings."""
    clean = {k: v for k, v in os.environ.items() if not k.startswith("DJANGO")}
    return subprocess.run(
        [sys.executable, "-m", "ml", *args],
        cwd=REPO,
        env={**clean, **env},
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )


def test_help_lists_every_command_without_django_settings() -> None:
    done = python_m_ml("--help")
    assert done.returncode == 0, done.stderr
    for name in COMMANDS:
        assert name in done.stdout


def test_bad_input_is_one_clear_error_line(tmp_path: Path) -> None:
    done = python_m_ml(
        "evaluate", str(tmp_path / "nothing"), "--data", str(BIRDS525), "--out", str(tmp_path)
    )
    assert done.returncode == 1
    assert done.stderr.startswith("error: ") and "Traceback" not in done.stderr
    assert "nothing" in done.stderr
    assert list(tmp_path.iterdir()) == []  # no report half-written


@pytest.mark.slow
def test_evaluate_writes_the_report_without_django(tmp_path: Path, small_model_dir: Path) -> None:
    # MALLARD is one of the small model's species (MALLARD DUCK through the default name map)
    cub = linked_copy(shared_data_dir() / "cub100", tmp_path / "cub", ["MALLARD"])
    out = tmp_path / "report"
    done = python_m_ml(
        "evaluate", str(small_model_dir), "--data", str(cub), "--out", str(out), "-v", "0"
    )
    assert done.returncode == 0, done.stderr
    assert set(json.loads((out / "metrics.json").read_text())) == set(METRIC_KEYS)
    assert (out / "report.md").is_file()
    assert "report:" in done.stdout
