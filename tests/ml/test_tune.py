"""Tuning: search space, hold-out, crash-safe persistence and resume (fast, with a toy
objective), and a real `tune_model` run killed with SIGKILL and resumed (slow)."""

from __future__ import annotations

import json
import os
import pickle
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from hyperopt import STATUS_OK
from hyperopt.pyll.stochastic import sample

from ml.model import HeadParams
from ml.model_dir import ModelDir
from ml.tune import search, search_space, stratified_holdout, to_params
from ml.tune_store import RunError, RunStore

REPO = Path(__file__).resolve().parents[2]


def toy_objective(drawn: dict) -> dict:
    params = to_params(drawn)
    loss = abs(np.log10(params["learning_rate"]) + 3) + params["dropout_in"]
    return {
        "status": STATUS_OK,
        "loss": loss,
        "params": params,
        "duration_s": 0.0,
        "history": {"loss": [1.0, 0.5], "val_loss": [1.1, 0.7]},
        "metrics": {"m": 1.0},
    }


def test_every_drawn_sample_is_valid_head_params() -> None:
    rng = np.random.default_rng(0)
    seen = set()
    for _ in range(200):
        params = to_params(sample(search_space(), rng=rng))
        HeadParams(**params)
        assert ("weight_decay" in params) == (params["optimizer"] == "adamw")
        json.dumps(params)
        seen.add(params["optimizer"])
    assert seen == {"adam", "adamw", "sgd", "rmsprop", "nadam"}


def test_stratified_holdout_takes_a_fifth_of_each_species() -> None:
    labels = np.repeat(np.arange(4), 25)
    fit, hold = stratified_holdout(labels, fraction=0.2, seed=1)
    assert sorted(np.concatenate([fit, hold]).tolist()) == list(range(100))
    assert np.bincount(labels[hold]).tolist() == [5, 5, 5, 5]
    assert np.array_equal(hold, stratified_holdout(labels, fraction=0.2, seed=1)[1])


def test_search_persists_each_trial_and_resumes_to_the_total(tmp_path: Path) -> None:
    store = RunStore(tmp_path / "run")
    trials = store.create({"seed": 0})
    search(store, trials, objective=toy_objective, max_evals=4, progress=False)
    assert [r["tid"] for r in store.records()] == [0, 1, 2, 3]
    with pytest.raises(RunError):
        store.create({})
    resumed = store.load()
    result = search(store, resumed, objective=toy_objective, max_evals=7, progress=False)
    assert result.ran == 3
    records = store.records()
    assert [r["tid"] for r in records] == list(range(7))
    assert set(records[0]) >= {"params", "loss", "metrics", "history", "duration_s"}


def test_same_seed_draws_the_same_trials_whether_resumed_or_not(tmp_path: Path) -> None:
    straight = RunStore(tmp_path / "a")
    search(straight, straight.create({}), objective=toy_objective, max_evals=6, progress=False)
    split = RunStore(tmp_path / "b")
    search(split, split.create({}), objective=toy_objective, max_evals=3, progress=False)
    search(split, split.load(), objective=toy_objective, max_evals=6, progress=False)
    assert [r["params"] for r in straight.records()] == [r["params"] for r in split.records()]


def test_log_is_rederived_from_the_pickle_on_resume(tmp_path: Path) -> None:
    """A kill after the pickle but before the JSON line, or a torn last line, loses nothing."""
    store = RunStore(tmp_path / "run")
    search(store, store.create({}), objective=toy_objective, max_evals=3, progress=False)
    lines = store.jsonl_path.read_text().splitlines()
    store.jsonl_path.write_text(lines[0] + "\n" + lines[1][:20])
    assert len(store.records()) == 1
    store.load()
    assert [r["tid"] for r in store.records()] == [0, 1, 2]


def test_a_run_resumed_from_its_log_alone_draws_as_one_resumed_from_the_pickle(
    tmp_path: Path,
) -> None:
    """A Spark run keeps no pickle: the Trials rebuilt from trials.jsonl guide TPE alike."""
    pickled, logged = RunStore(tmp_path / "a"), RunStore(tmp_path / "b")
    for store in (pickled, logged):
        search(store, store.create({}), objective=toy_objective, max_evals=7, progress=False)
    logged.drop_pickle()
    for store in (pickled, logged):
        search(store, store.load(), objective=toy_objective, max_evals=10, progress=False)
    assert [r["params"] for r in pickled.records()] == [r["params"] for r in logged.records()]
    assert [r["tid"] for r in logged.records()] == list(range(10))


def test_a_trial_missing_from_the_log_is_run_again_under_a_new_number(tmp_path: Path) -> None:
    """A Spark run stopped while trial 1 ran (its line never written) keeps 0 and 2."""
    store = RunStore(tmp_path / "run")
    search(store, store.create({}), objective=toy_objective, max_evals=3, progress=False)
    store.drop_pickle()
    lines = store.jsonl_path.read_text().splitlines()
    store.jsonl_path.write_text(lines[0] + "\n" + lines[2] + "\n")
    result = search(store, store.load(), objective=toy_objective, max_evals=4, progress=False)
    assert result.ran == 2
    assert [r["tid"] for r in store.records()] == [0, 2, 3, 4]


def test_a_corrupt_pickle_is_a_clear_error(tmp_path: Path) -> None:
    store = RunStore(tmp_path / "run")
    store.create({})
    store.pickle_path.write_bytes(b"not a pickle")
    with pytest.raises(RunError, match="cannot be read"):
        store.load()


def _five_cub_species(shared_data: Path, root: Path) -> Path:
    """10 train photos of each of 5 cub100 species, linked (the tuning tests share their
    cached features)."""
    source = shared_data / "cub100" / "train"
    for name in sorted(p.name for p in source.iterdir())[:5]:
        (root / "train" / name).mkdir(parents=True)
        for photo in sorted((source / name).iterdir())[:10]:
            os.link(photo, root / "train" / name / photo.name)
    return root


def _trial_lines(path: Path) -> int:
    return len(path.read_text().splitlines()) if path.is_file() else 0


@pytest.mark.slow
def test_tune_model_killed_with_sigkill_resumes(tmp_path: Path, shared_data: Path) -> None:
    """A real run on 5 cub100 species, killed after its 3rd trial, resumed to 6 trials."""
    data = _five_cub_species(shared_data, tmp_path / "data")
    run = tmp_path / "run"
    manage = [sys.executable, str(REPO / "manage.py"), "tune_model", "--trials", "6", "--no-train"]
    env = {**os.environ, "DJANGO_SETTINGS_MODULE": "birdsite.test_settings"}
    process = subprocess.Popen(
        [*manage, "--data", str(data), "--out", str(run)],
        cwd=REPO,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 240
    while _trial_lines(run / "trials.jsonl") < 3:
        assert process.poll() is None, "tune_model ended before its 3rd trial"
        assert time.monotonic() < deadline, "no 3rd trial in time"
        time.sleep(0.05)
    process.send_signal(signal.SIGKILL)
    process.wait()
    done = _trial_lines(run / "trials.jsonl")
    with open(run / "trials.pkl", "rb") as handle:
        saved = len(pickle.load(handle).trials)
    assert saved >= 3 and done >= 3 and saved <= 6

    result = subprocess.run(
        [*manage, "--resume", str(run)],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=240,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    records = [json.loads(line) for line in (run / "trials.jsonl").read_text().splitlines()]
    assert [r["tid"] for r in records] == list(range(6))
    assert "report:" in result.stdout and (run / "report" / "report.md").is_file()


@pytest.mark.slow
def test_a_spark_search_writes_what_a_sequential_one_writes(
    tmp_path: Path, shared_data: Path
) -> None:
    """4 real trials on `local[2]` and 4 in sequence, same seed: the same trials.jsonl lines,
    report and random startup draws, and best/ is a model directory as `train_model` writes it
    (the same code trains it after either search; the sequential run skips it, for time). Spark
    keeps no pickle, and runs on the pyspark wheel's JARs alone (nothing could be downloaded)."""
    data = _five_cub_species(shared_data, tmp_path / "data")
    runs = {"sequential": ("--no-train",), "spark": ("--spark", "--parallelism", "2")}
    for name, options in runs.items():
        command = [
            "tune_model",
            "--data",
            str(data),
            "--trials",
            "4",
            "--out",
            str(tmp_path / name),
        ]
        done = subprocess.run(
            [sys.executable, "-m", "ml", *command, "-v", "0", *options],
            cwd=REPO,
            capture_output=True,
            text=True,
            timeout=400,
        )
        assert done.returncode == 0, done.stderr[-3000:]
    sequential, spark = RunStore(tmp_path / "sequential"), RunStore(tmp_path / "spark")
    assert not spark.pickle_path.exists() and sequential.pickle_path.exists()
    for store in (sequential, spark):
        assert [r["tid"] for r in store.records()] == [0, 1, 2, 3]
        assert set(store.records()[0]) == set(sequential.records()[0])
    # all four are TPE's random startup trials: drawn by trial number alike
    assert [r["params"] for r in spark.records()] == [r["params"] for r in sequential.records()]
    reports = [store.root / "report" for store in (sequential, spark)]
    assert [sorted(p.name for p in r.iterdir()) for r in reports[1:]] == [
        sorted(p.name for p in reports[0].iterdir())
    ]
    headings = [
        [x for x in (r / "report.md").read_text().splitlines() if x[:1] == "#"] for r in reports
    ]
    assert headings[0] == headings[1] and "# Tuning report" in headings[0]
    (best,) = (spark.root / "best").iterdir()
    assert ModelDir.open(path=best).metrics["weighted_f1"] > 0
    assert str(best) in (reports[1] / "report.md").read_text()
