"""`tune_model`: Hyperopt TPE search of the head's parameters on cached features (`ml.tune`)."""

from __future__ import annotations

import argparse
import contextlib
import shlex
import sys
from datetime import datetime
from pathlib import Path
from typing import Any

from hyperopt import Trials

from ml import tune
from ml.cli import CommandFailed, Log, progress_of
from ml.config import data_dir
from ml.data import DatasetError
from ml.model_dir import ModelDir
from ml.spark_trials import local_master, spark_trials
from ml.tune_store import RunError

HELP = (
    "Tune the classifier head with Hyperopt TPE on a stratified 20% hold-out of the train split "
    "(cached features: seconds per trial). Every finished trial is saved at once "
    "(RUN_DIR/trials.jsonl, and the Trials pickle of a run that is not on Spark): --resume "
    "RUN_DIR continues a killed run to --trials in total. At the end the best parameters are "
    "trained into RUN_DIR/best/<version>/ and RUN_DIR/report/ holds the figures and report.md. "
    "With --spark the trials run on Apache Spark (docs/tuning-on-spark.md)."
)
LOCAL = "local[N]"  # --spark without a master: this machine, N = --parallelism


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--data", type=Path, help="data set folder (BIRDS-525 layout); new runs only"
    )
    parser.add_argument(
        "--trials", type=int, required=True, help="total number of trials of the run"
    )
    parser.add_argument(
        "--resume", type=Path, default=None, metavar="RUN_DIR", help="continue this run"
    )
    parser.add_argument(
        "--out",
        type=Path,
        default=None,
        metavar="RUN_DIR",
        help="new run folder (default: <data dir>/tuning/<time>)",
    )
    parser.add_argument(
        "--per-class",
        type=int,
        default=None,
        help="tune on this many train photos per species (as `subsample`)",
    )
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument(
        "--spark",
        nargs="?",
        const=LOCAL,
        default=None,
        metavar="MASTER",
        help=(
            "run the trials on Apache Spark (Hyperopt's SparkTrials), on local[N] without MASTER "
            "(N = --parallelism) or on a classic master URL: spark://HOST:7077, yarn, k8s://... "
            "(Spark Connect, sc://, is not supported by SparkTrials). Needs "
            "requirements/spark.txt and a Java runtime; every executor must reach the data set "
            "and the feature cache (BIRDSITE_DATA_DIR) at the same path (a shared file system). "
            "No Trials pickle: the driver writes trials.jsonl as trials finish, and --resume keeps "
            "the finished trials and runs again the ones still running when it stopped "
            "(docs/tuning-on-spark.md)"
        ),
    )
    parser.add_argument(
        "--parallelism",
        type=int,
        default=None,
        metavar="N",
        help=(
            "with --spark: trials run at once (default 2). TPE proposes each trial from the "
            "finished ones, so the more run at once the less each is guided: keep N well below "
            "--trials (about sqrt(--trials))"
        ),
    )
    parser.add_argument("--no-train", action="store_true", help="skip training the best parameters")
    parser.add_argument(
        "--save-defaults",
        action="store_true",
        help=(
            "also train the built-in (untuned) defaults the same way and, only if the best "
            "parameters beat them on the data set's held-out split (weighted F1), write them to "
            "ml/tuned_params.json (train_model's defaults)"
        ),
    )


def run(options: dict[str, Any], log: Log) -> None:
    if options["trials"] < 1:
        raise CommandFailed("--trials must be at least 1")
    if options["resume"] and (options["out"] or options["data"]):
        raise CommandFailed("--resume takes the run folder; --out and --data are for new runs")
    if options["parallelism"] is not None and not options["spark"]:
        raise CommandFailed("--parallelism is the number of Spark trials run at once: add --spark")
    parallelism = options["parallelism"] or 2
    if parallelism < 1:
        raise CommandFailed("--parallelism must be at least 1")
    run_dir = (
        options["resume"]
        or options["out"]
        or (data_dir() / "tuning" / datetime.now().strftime("%Y%m%d-%H%M%S"))
    )
    progress = progress_of(options)
    try:
        store, trials, settings = tune.start_or_resume(
            run_dir=run_dir,
            data=options["data"],
            per_class=options["per_class"],
            seed=options["seed"],
            resume=options["resume"] is not None,
            command="tune_model " + shlex.join(sys.argv[2:]),
        )
        log(f"run {run_dir}: {len(trials.trials)} trials done, going to {options['trials']}")
        with _backend(options["spark"], parallelism, trials) as trials:
            result = tune.run_search(
                store, trials, settings=settings, max_evals=options["trials"], progress=progress
            )
    except (RunError, DatasetError, ValueError) as exc:
        raise CommandFailed(str(exc)) from exc
    best = tune.best_record(store)
    log(
        f"{result.ran} trials in {result.seconds:.0f} s; best trial {best['tid']}: "
        f"loss {best['loss']:.4f} {best['metrics']}"
    )
    log(f"best parameters: {best['params']}")
    best_dir, best_metrics = None, None
    if not options["no_train"]:
        log(f"training the best parameters into {run_dir / 'best'} (train_model)")
        best_dir = tune.train_best(
            settings, best["params"], out=run_dir / "best", progress=progress
        )
        best_metrics = ModelDir.open(path=best_dir).metrics
    log(f"report: {tune.write_report(store, best_dir=best_dir, best_metrics=best_metrics)}")
    if options["save_defaults"]:
        if best_metrics is None:
            raise CommandFailed("--save-defaults compares trained models: drop --no-train")
        log("training the built-in (untuned) defaults for comparison")
        untuned = tune.untuned_metrics(settings, out=run_dir / "untuned", progress=progress)
        log(
            f"held-out weighted F1: tuned {best_metrics.get('weighted_f1')}, "
            f"untuned {untuned.get('weighted_f1')}"
        )
        if not tune.tuned_wins(best_metrics, untuned):
            log(
                f"the tuned parameters do not beat the untuned ones: {tune.TUNED_PARAMS} "
                "left as it is"
            )
            return
        tune.write_tuned_params(
            best["params"],
            command=settings["command"],
            objective=best["loss"],
            notes={"train_model_metrics": best_metrics, "untuned_metrics": untuned},
        )
        log(f"wrote {tune.TUNED_PARAMS}")


def _backend(
    master: str | None, parallelism: int, trials: Trials
) -> contextlib.AbstractContextManager:
    """The run's trials here (one at a time), or on Spark holding the finished ones."""
    if master is None:
        return contextlib.nullcontext(trials)
    master = local_master(parallelism) if master == LOCAL else master
    return spark_trials(master=master, parallelism=parallelism, done=trials)
