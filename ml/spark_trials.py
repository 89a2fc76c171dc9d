"""Hyperopt's `SparkTrials` for `tune_model --spark`: with `ml.spark_daemon`, the only module that
imports pyspark (an optional extra, `requirements/spark.txt`, which needs a Java runtime).

Each trial is one Spark task. The executors' Python workers run this venv's interpreter
(`PYSPARK_PYTHON`), import the project from its root, fork from a daemon that imported
TensorFlow once (`ml.spark_daemon`) and read the run's features from the feature cache under
this process's data dir (`BIRDSITE_DATA_DIR`): on a cluster, the venv, the project, the data set
and the data dir must be at the same paths on every executor (a shared file system).
Spark Connect (`sc://` masters, `SPARK_REMOTE`) is not supported: SparkTrials needs a classic
SparkContext.
"""

from __future__ import annotations

import os
import sys
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from hyperopt import JOB_STATE_DONE, Trials

from ml.config import REPO_ROOT, data_dir
from ml.tune_store import insert_done

APP_NAME = "birdsite tune_model"
# Errors only from Spark's JVMs (a path every executor reaches, as the project's is).
LOG4J_OPTIONS = (
    f"-Dlog4j2.configurationFile=file:{Path(__file__).with_name('spark-log4j2.properties')}"
)


class SparkUnavailable(ValueError):
    """Spark cannot run the search as asked (pyspark missing, or a Spark Connect master)."""


def trial_threads(*, master: str, parallelism: int) -> int | None:
    """TensorFlow threads per trial on this machine (`local` masters): its cores shared out
    among the trials run at once, as gunicorn shares them among workers. Left to the cluster's
    executors otherwise (their `spark.executorEnv.TF_NUM_INTRAOP_THREADS`)."""
    if not master.startswith("local"):
        return None
    return max(1, len(os.sched_getaffinity(0)) // parallelism)


def local_master(parallelism: int) -> str:
    """The default master: this machine, one task slot per trial run at once."""
    return f"local[{parallelism}]"


@contextmanager
def spark_trials(*, master: str, parallelism: int, done: Trials) -> Iterator[Trials]:
    """SparkTrials running `parallelism` trials at once on `master` (a classic master URL:
    local[N], spark://, yarn, k8s://), holding the finished trials of `done` (a resumed run's).
    A session this made is stopped at the end (its JVM and workers hold memory and cores while
    the best parameters train); a notebook's own session is left running."""
    if master.startswith("sc://") or os.environ.get("SPARK_REMOTE"):
        raise SparkUnavailable(
            "Spark Connect is not supported by Hyperopt's SparkTrials (it needs a classic "
            "SparkContext): give a classic master URL (local[N], spark://HOST:7077, yarn, "
            "k8s://...) and unset SPARK_REMOTE"
        )
    try:
        from hyperopt import SparkTrials
        from pyspark.sql import SparkSession
    except ImportError as exc:
        raise SparkUnavailable(
            "--spark needs pyspark and a Java runtime: pip install -r requirements/spark.txt "
            "-c requirements/constraints.txt; apt-get install default-jre-headless"
        ) from exc
    existing = SparkSession.getActiveSession()
    os.environ["PYSPARK_PYTHON"] = os.environ["PYSPARK_DRIVER_PYTHON"] = sys.executable
    builder = SparkSession.builder
    threads = trial_threads(master=master, parallelism=parallelism)
    if threads is not None:  # each trial's TensorFlow would start a thread per core
        for name in ("TF_NUM_INTRAOP_THREADS", "TF_NUM_INTEROP_THREADS"):
            builder = builder.config(f"spark.executorEnv.{name}", str(threads))
    session = (
        builder.master(master)
        .appName(APP_NAME)
        .config("spark.python.daemon.module", "ml.spark_daemon")
        .config("spark.executorEnv.PYTHONPATH", str(REPO_ROOT))
        .config("spark.executorEnv.BIRDSITE_DATA_DIR", str(data_dir()))
        .config("spark.ui.showConsoleProgress", "false")
        .config("spark.driver.extraJavaOptions", LOG4J_OPTIONS)
        .config("spark.executor.extraJavaOptions", LOG4J_OPTIONS)
        .getOrCreate()
    )
    session.sparkContext.setLogLevel("ERROR")
    try:
        # pyspark's note on its threads' job tags, once per trial (the search uses no tags)
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", "Spark session is not provided", UserWarning)
            trials = SparkTrials(parallelism=parallelism, spark_session=session)
            yield insert_done(trials, [t for t in done.trials if t["state"] == JOB_STATE_DONE])
    finally:
        if existing is None:
            session.stop()
