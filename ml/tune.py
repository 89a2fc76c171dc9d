"""Hyperparameter search for the classifier head: Hyperopt TPE on cached backbone features.

The objective never sees the split the final report uses: it trains on 80% of each species of
the (subsampled) `train` split and scores the other 20% (stratified hold-out), with the serving
test-time views. Every finished trial is persisted at once (see `ml.tune_store`), so a killed
run resumes where it stopped; at the end the best parameters are trained into `RUN_DIR/best/`
with the pipeline's training code, and `RUN_DIR/report/` holds the figures and `report.md`.
"""

from __future__ import annotations

import functools
import logging
import math
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import numpy as np
from hyperopt import STATUS_FAIL, STATUS_OK, Trials, fmin, hp, tpe

from ml import console, report
from ml.atomic import write_bytes, write_json
from ml.data import DatasetError, read_dataset
from ml.features import default_extractor
from ml.metrics import weighted_f1
from ml.model import ACTIVATIONS, DEFAULT_PARAMS, OPTIMIZERS, UNTUNED_PARAMS, HeadParams
from ml.model_dir import ModelDir
from ml.train import (
    Split,
    TrainingData,
    choose_split,
    fit_head,
    head_logits,
    train_model,
    training_data,
)
from ml.tune_store import RunStore, finished_trials

HOLDOUT_FRACTION = 0.2
STARTUP_TRIALS = 5
TUNED_PARAMS = Path(__file__).with_name("tuned_params.json")
OBJECTIVE_DOC = (
    "Loss = 1 - weighted F1 on the hold-out photos (test-time views averaged as in serving); "
    "early stopping watches the hold-out cross-entropy."
)


@dataclass(frozen=True)
class Dimension:
    """One tuned parameter: how Hyperopt draws it, and so how the report describes it and how
    its plot scales the axis (the one table of the search space)."""

    name: str
    draw: str  # "choice" | "loguniform" | "uniform" | "quniform"
    values: tuple = ()  # the choices
    low: float = 0.0
    high: float = 0.0
    step: float = 1.0  # quniform's step
    note: str = ""

    def expression(self) -> Any:
        if self.draw == "choice":
            return hp.choice(self.name, list(self.values))
        if self.draw == "loguniform":
            return hp.loguniform(self.name, math.log(self.low), math.log(self.high))
        if self.draw == "uniform":
            return hp.uniform(self.name, self.low, self.high)
        return hp.quniform(self.name, self.low, self.high, self.step)

    @property
    def doc(self) -> str:
        if self.draw == "choice":
            text = "choice " + ", ".join(str(v) for v in self.values)
        else:
            text = f"{self.draw} {self.low:g} .. {self.high:g}"
            if self.draw == "quniform":
                text += f", step {self.step:g}"
        return f"{text} ({self.note})" if self.note else text

    @property
    def axis(self) -> str:
        """How the loss-against-parameter plot spaces this parameter."""
        return {"choice": "choice", "loguniform": "log"}.get(self.draw, "linear")

    @property
    def whole(self) -> bool:
        """Drawn as whole numbers (quniform gives floats)."""
        return self.draw == "quniform" or all(isinstance(v, int) for v in self.values or (0.5,))


# weight decay is drawn only with AdamW (a nested choice inside `optimizer`)
WEIGHT_DECAY = Dimension("weight_decay", "loguniform", low=1e-6, high=1e-2, note="adamw only")
SPACE = (
    Dimension("optimizer", "choice", OPTIMIZERS, note="adamw with weight_decay; sgd Nesterov 0.9"),
    Dimension("learning_rate", "loguniform", low=3e-4, high=1e-2),
    WEIGHT_DECAY,
    Dimension("dropout_in", "uniform", low=0.0, high=0.7),
    Dimension("dropout_mid", "uniform", low=0.0, high=0.7),
    Dimension("dense1", "choice", (256, 512, 1024)),
    Dimension("dense2", "choice", (256, 512, 1024)),
    Dimension("activation", "choice", ACTIVATIONS),
    Dimension("label_smoothing", "uniform", low=0.0, high=0.3),
    Dimension("batch_size", "choice", (128, 256, 512)),
    Dimension(
        "epochs",
        "quniform",
        low=30,
        high=90,
        step=10,
        note="each photo views_per_epoch times, random views",
    ),
    Dimension("patience", "quniform", low=8, high=20, step=4),
    Dimension("views_per_epoch", "choice", (1, 2, 3), note="cost of a trial grows with it"),
)


def search_space() -> dict[str, Any]:
    """The Hyperopt space of `SPACE`; the optimizer is a nested choice (weight decay only for
    AdamW)."""
    space = {
        d.name: d.expression() for d in SPACE if d.name not in ("optimizer", WEIGHT_DECAY.name)
    }
    space["optimizer"] = hp.choice(
        "optimizer",
        [
            {
                "optimizer": name,
                **({WEIGHT_DECAY.name: WEIGHT_DECAY.expression()} if name == "adamw" else {}),
            }
            for name in OPTIMIZERS
        ],
    )
    return space


def to_params(sample: dict[str, Any]) -> dict[str, Any]:
    """A drawn sample -> flat, JSON-able `HeadParams` keyword arguments."""
    flat = {k: v for k, v in sample.items() if k != "optimizer"}
    flat.update(sample["optimizer"])
    for dimension in SPACE:
        if dimension.whole and dimension.name in flat:
            flat[dimension.name] = round(float(flat[dimension.name]))
    return {k: (v if isinstance(v, str | int) else float(v)) for k, v in sorted(flat.items())}


def stratified_holdout(
    labels: np.ndarray, *, fraction: float = HOLDOUT_FRACTION, seed: int = 0
) -> tuple[np.ndarray, np.ndarray]:
    """(fit, hold-out) indices: `fraction` of each species' photos (at least one) held out."""
    rng = np.random.default_rng(seed)
    fit, hold = [], []
    for label in np.unique(labels):
        members = rng.permutation(np.flatnonzero(labels == label))
        n_hold = max(1, round(len(members) * fraction)) if len(members) > 1 else 0
        hold += members[:n_hold].tolist()
        fit += members[n_hold:].tolist()
    return np.array(sorted(fit)), np.array(sorted(hold))


@dataclass
class SearchResult:
    trials: Trials
    ran: int
    seconds: float

    @property
    def best(self) -> dict:
        return min(finished_trials(self.trials), key=lambda t: t["result"]["loss"])


def trial_seed(seed: int, tid: int) -> int:
    """The seed trial `tid` of a run is drawn with: a resumed run draws what an uninterrupted
    one would have drawn next, and a Spark run draws its first `STARTUP_TRIALS` (random) trials
    exactly as a sequential run does (later TPE draws depend on which trials have finished)."""
    return int(np.random.default_rng((seed, tid)).integers(2**31 - 1))


def seeded_tpe(seed: int) -> Callable:
    """TPE as a Hyperopt algorithm that seeds each new trial by its number (`trial_seed`)
    rather than by fmin's running random state."""

    def suggest(new_ids: list[int], domain: Any, trials: Trials, _: int) -> list[dict]:
        return [
            doc
            for tid in new_ids
            for doc in tpe.suggest(
                [tid], domain, trials, trial_seed(seed, tid), n_startup_jobs=STARTUP_TRIALS
            )
        ]

    return suggest


def search(
    store: RunStore,
    trials: Trials,
    *,
    objective: Callable[[dict], dict],
    max_evals: int,
    seed: int = 0,
    progress: bool = True,
) -> SearchResult:
    """Run TPE until `trials` holds `max_evals` trials, persisting each one as it finishes.

    `trials` is a plain `Trials` (one trial at a time, here) or a `SparkTrials`
    (`ml.spark_trials`: its trials run on Spark's executors, and the driver writes each line as
    its trial finishes, from the hook Hyperopt calls when a trial is done).
    """
    logging.getLogger("hyperopt").setLevel(logging.WARNING)  # per-trial chatter; the bar says it
    if trials.asynchronous:
        store.drop_pickle()
    started = time.perf_counter()
    before = len(trials.trials)
    # Our own bar (ml.console: redrawn on a terminal, a line now and then on a pipe), not
    # Hyperopt's, which redraws on a pipe too.
    bar = console.progress(
        total=max_evals, initial=before, desc="trials", unit="trial", disable=not progress
    )
    shown = [before]

    def persist(current: Trials, *_: Any) -> tuple[bool, list]:
        store.checkpoint(current)
        bar.update(len(current.trials) - shown[0])
        shown[0] = len(current.trials)
        done = finished_trials(current)
        if done:
            bar.set_postfix(best=f"{min(t['result']['loss'] for t in done):.4f}")
        return False, []

    fmin(
        objective,
        search_space(),
        algo=seeded_tpe(seed),
        max_evals=max_evals,
        trials=trials,
        rstate=np.random.default_rng(seed),  # unused: `seeded_tpe` seeds each trial itself
        early_stop_fn=persist,
        show_progressbar=False,
    )
    persist(trials)  # a Spark trial that finished after the hook's last look
    bar.close()
    return SearchResult(trials, len(trials.trials) - before, time.perf_counter() - started)


# --- the objective on cached features ----------------------------------------------------------


def tuning_split(data: Path, *, seed: int = 0, per_class: int | None = None) -> Split:
    """The photos `train_model --per-class` would train on, split into a part to fit and a
    stratified hold-out to score: the data set's `valid`/`test` splits are never read."""
    dataset = read_dataset(data)
    if not dataset.samples("train"):
        raise DatasetError(f"{data} has no train split to tune on.")
    pool = choose_split(dataset, seed=seed, per_class=per_class).train
    labels = np.array([dataset.species.index(s.species) for s in pool])
    fit, hold = stratified_holdout(labels, fraction=HOLDOUT_FRACTION, seed=seed)
    note = (
        f"stratified {HOLDOUT_FRACTION:.0%} of each species' train photos held out "
        f"({len(fit)} photos fit, {len(hold)} scored, {len(dataset.species)} species); "
        "the valid and test splits are never read while tuning"
    )
    return Split(
        [pool[i] for i in fit], [pool[i] for i in hold], note, "train (stratified hold-out)"
    )


def load_tuning_data(split: Split, progress: bool = True) -> TrainingData:
    """Features of every training view of the fit photos and the test-time views of the
    hold-out, from the pipeline's feature cache."""
    return training_data(
        split, params=DEFAULT_PARAMS, extractor=default_extractor(), progress=progress
    )


def make_objective(data: TrainingData, seed: int = 0) -> Callable[[dict], dict]:
    """Hyperopt objective: train a head with the drawn parameters, score the hold-out."""

    def objective(sample: dict) -> dict:
        params = to_params(sample)
        started = time.perf_counter()
        try:
            outcome = fit_and_score(data, params=params, seed=seed)
        except (ValueError, FloatingPointError) as exc:
            return {"status": STATUS_FAIL, "params": params, "error": str(exc)}
        duration = time.perf_counter() - started
        return {"status": STATUS_OK, "params": params, "duration_s": duration, **outcome}

    return objective


def fit_and_score(data: TrainingData, *, params: dict[str, Any], seed: int) -> dict:
    """Loss, metrics and history of one parameter set: trained and scored exactly as
    `train_model` trains and serves (a random training view per photo per epoch, test-time
    views averaged)."""
    head_params = HeadParams(**{**DEFAULT_PARAMS.to_dict(), **params})
    head, history = fit_head(data, params=head_params, seed=seed, verbose=0)
    val_loss = history.get("val_loss", [])
    if not np.all(np.isfinite(val_loss)):
        raise FloatingPointError("training diverged (non-finite hold-out loss)")
    predicted = head_logits(head, data.held.x[:, : head_params.tta_views]).argmax(axis=1)
    held_f1 = weighted_f1(data.y_held, predicted)
    return {
        "loss": 1.0 - held_f1,
        "metrics": {
            "holdout_weighted_f1": held_f1,
            "holdout_accuracy": float((predicted == data.y_held).mean()),
            "holdout_best_val_loss": float(np.min(val_loss)),
            "epochs_run": len(val_loss),
        },
        "history": history,
    }


def start_or_resume(
    *,
    run_dir: Path,
    data: Path | None = None,
    per_class: int | None = None,
    seed: int = 0,
    resume: bool = False,
    command: str = "",
) -> tuple[RunStore, Trials, dict]:
    """A new run folder, or a reloaded one (its settings are the ones it was started with)."""
    store = RunStore(run_dir)
    if resume:
        return store, store.load(), store.settings()
    if data is None:
        raise ValueError("a new tuning run needs --data")
    store.check_new()
    settings = {
        "command": command,
        "data": str(Path(data).resolve()),
        "per_class": per_class,
        "seed": seed,
        "created": datetime.now(UTC).isoformat(timespec="seconds"),
        "objective_doc": OBJECTIVE_DOC,
        "holdout_doc": tuning_split(Path(data), seed=seed, per_class=per_class).note,
    }
    return store, store.create(settings), settings


def run_search(
    store: RunStore, trials: Trials, *, settings: dict, max_evals: int, progress: bool = True
) -> SearchResult:
    """Load the cached features (computing the missing ones) and search until the run holds
    `max_evals` trials. On Spark the objective carries the run's settings, not its features:
    each Python worker reads them from the feature cache (`cached_run_data`)."""
    split = tuning_split(
        Path(settings["data"]), seed=settings["seed"], per_class=settings["per_class"]
    )
    data = load_tuning_data(split, progress)
    if trials.asynchronous:
        objective = functools.partial(
            objective_on_cache,
            data=settings["data"],
            seed=settings["seed"],
            per_class=settings["per_class"],
        )
    else:
        objective = make_objective(data, settings["seed"])
    return search(
        store,
        trials,
        objective=objective,
        max_evals=max_evals,
        seed=settings["seed"],
        progress=progress,
    )


@functools.cache
def cached_run_data(*, data: str, seed: int, per_class: int | None) -> TrainingData:
    """A run's features, read from the feature cache once per process (a Spark Python worker
    runs many trials)."""
    split = tuning_split(Path(data), seed=seed, per_class=per_class)
    return load_tuning_data(split, progress=False)


def objective_on_cache(sample: dict, *, data: str, seed: int, per_class: int | None) -> dict:
    """The objective as Spark ships it to its executors: small, and the same trial as
    `make_objective`'s."""
    return make_objective(cached_run_data(data=data, seed=seed, per_class=per_class), seed)(sample)


def train_best(
    settings: dict,
    params: dict,
    *,
    out: Path,
    progress: bool = True,
    base: HeadParams | None = None,
) -> Path:
    """The best parameters trained by the pipeline (`ml.train.train_model`, as `train_model`
    does) on the run's data: `<out>/<version>/`. Parameters not tuned come from `base`
    (default: the current defaults)."""
    base = base or DEFAULT_PARAMS
    return train_model(
        settings["data"],
        out_dir=out,
        params=HeadParams(**{**base.to_dict(), **params}),
        seed=settings["seed"],
        per_class=settings["per_class"],
        progress=progress,
        log=print if progress else (lambda *_: None),
    )


def best_record(store: RunStore) -> dict:
    records = store.records()
    if not records:
        raise ValueError(f"{store.root} has no finished trial.")
    return min(records, key=lambda r: r["loss"])


def write_report(
    store: RunStore, *, best_dir: Path | None = None, best_metrics: dict | None = None
) -> Path:
    """RUN_DIR/report/: loss per trial, loss against each parameter, learning curves, report.md."""
    records = store.records()
    out = store.root / "report"
    figures = {
        "Loss per trial": report.plot_trial_losses(records, out / "loss_per_trial.png"),
        "Loss against each parameter": report.plot_loss_vs_params(
            records, kinds={d.name: d.axis for d in SPACE}, path=out / "loss_vs_params.png"
        ),
        "Learning curves of the best trials": report.plot_learning_curves(
            records, path=out / "learning_curves.png"
        ),
    }
    text = report.tuning_markdown(
        settings=store.settings(),
        space={d.name: d.doc for d in SPACE},
        records=records,
        figures=figures,
        best_dir=best_dir,
        best_metrics=best_metrics,
    )
    write_bytes(path=out / "report.md", data=text.encode())
    return out / "report.md"


def untuned_metrics(settings: dict, *, out: Path, progress: bool = True) -> dict:
    """Metrics of the built-in (untuned) defaults trained like the best parameters, for the
    comparison that decides whether the tuned ones become the defaults."""
    model_dir = train_best(settings, {}, out=out, progress=progress, base=UNTUNED_PARAMS)
    return ModelDir.open(path=model_dir).metrics


def tuned_wins(tuned: dict | None, untuned: dict | None) -> bool:
    """True when the tuned model's held-out weighted F1 beats the untuned one's."""
    if not tuned or not untuned:
        return False
    return tuned.get("weighted_f1", -1.0) > untuned.get("weighted_f1", -1.0)


def write_tuned_params(
    params: dict, *, command: str, objective: float, notes: dict, path: Path = TUNED_PARAMS
) -> None:
    """The committed defaults file: the parameters and how they were found."""
    write_json(
        path=path,
        value={
            "params": params,
            "command": command,
            "date": date.today().isoformat(),
            "objective": {"description": OBJECTIVE_DOC, "loss": objective},
            **notes,
        },
    )
