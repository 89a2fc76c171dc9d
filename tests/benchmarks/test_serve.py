"""`manage.py bench_serve` end to end, briefly: the site, the bare app and the baseline commit's
site start, every figure comes out, and the throwaway databases and the baseline's worktree are
removed."""

from __future__ import annotations

import json
import subprocess

import psycopg
import pytest
from django.core.management import call_command

from benchmarks.stack import REPO
from tests.support.serving_stack import admin_database

pytestmark = pytest.mark.slow

REQUIRED = [
    "runtime",
    "model_ms.litert-fp32",
    "bare.requests_per_s",
    "bare.cpu_ms_per_request",
    "stack.requests_per_s",
    "stack.cpu_ms_per_request",
    "stack.model_ms",
    "stack_vs_bare",
    "single_client.p50_ms",
    "single_client.model_ms",
    "predict_224.p50_ms",
    "predict_224.p95_ms",
    "predict_224.p99_ms",
    "predict_224.requests_per_s",
    "predict_224.cpu_ms_per_request",
    "predict_224.errors",
    "predict_phone.p50_ms",
    "create.requests_per_s",
    "create.errors",
    "create.lost",
    "errors",
    "worker_peak_rss_mb",
    "baseline.requests_per_s",
    "baseline.worker_peak_rss_mb",
    "baseline.create.lost",
    "targets",
]


def worktrees() -> list[str]:
    listing = subprocess.run(
        ["git", "-C", str(REPO), "worktree", "list", "--porcelain"],
        capture_output=True,
        text=True,
        check=True,
    )
    return [line for line in listing.stdout.splitlines() if line.startswith("worktree ")]


def bench_databases() -> set[str]:
    with psycopg.connect(admin_database()) as conn:
        rows = conn.execute("SELECT datname FROM pg_database WHERE datname LIKE 'birdsite_bench_%'")
        return {name for (name,) in rows}


def test_bench_serve_reports_every_figure(tmp_path, small_model_dir, capsys):
    databases_before = bench_databases()
    out = tmp_path / "serve.json"
    call_command(
        "bench_serve",
        model=small_model_dir,
        clients=2,
        duration=2,
        rounds=2,
        model_threads=1,
        admin_database=admin_database(),
        out=out,
    )
    figures = json.loads(out.read_text())
    assert figures["runtime"] == "litert-fp32"  # the tests ask for LiteRT (test_settings)
    assert json.loads(capsys.readouterr().out) == figures
    assert all(key in figures for key in REQUIRED)
    assert figures["predict_224.errors"] == figures["create.errors"] == figures["create.lost"] == 0
    assert figures["errors"] == 0
    assert 0 < figures["single_client.model_ms"] < figures["single_client.p50_ms"]
    assert figures["predict_224.cpu_ms_per_request"] > 0
    assert figures["predict_224.requests_per_s"] > 0 and figures["create.created"] > 0
    assert 50 < figures["worker_peak_rss_mb"] < 2000
    assert 50 < figures["baseline.worker_peak_rss_mb"] < 2000
    assert figures["baseline.errors"] == figures["baseline.create.lost"] == 0
    assert figures["stack_vs_bare"] > 0 and figures["bare.requests_per_s"] > 0
    assert set(figures["targets"]) >= {"stack_vs_bare", "stack_vs_baseline", "rss_over_baseline_mb"}
    assert all(set(row) == {"value", "target", "met"} for row in figures["targets"].values())
    settings = figures["settings"]
    assert (settings["workers"], settings["clients"], settings["model_threads"]) == (2, 2, 1)
    assert settings["rounds"] == 2 and settings["cpu"]
    assert settings["model_version"] and settings["predict_user_rate"]
    assert bench_databases() == databases_before
    assert not [w for w in worktrees() if "bench-baseline-" in w]  # the baseline is removed
