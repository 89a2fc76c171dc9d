"""Crash-safe persistence of a tuning run: `trials.jsonl` and, for a sequential run, the
Hyperopt `Trials` pickle.

A sequential run's pickle is its source of truth (written atomically by `ml.atomic`, so it is
always a complete old or new version, even after SIGKILL); `trials.jsonl` is the readable log
derived from it, one line per finished trial, appended after the pickle and rewritten from the
pickle on resume (a kill between the two writes loses no line and duplicates none).

A Spark run (`hyperopt.SparkTrials` cannot be pickled) keeps no pickle: its driver appends each
line as the trial finishes, and on resume the Trials are rebuilt from the lines (each keeps
Hyperopt's own draw, `vals`), so finished trials are kept and the ones still running when the
run stopped are drawn and run again.
"""

from __future__ import annotations

import json
import os
import pickle
from datetime import datetime
from pathlib import Path

import numpy as np
from hyperopt import JOB_STATE_DONE, STATUS_OK, Trials

from ml.atomic import write_bytes, write_json

TRIALS_PICKLE = "trials.pkl"
TRIALS_JSONL = "trials.jsonl"
RUN_JSON = "run.json"


class RunError(ValueError):
    """A run folder that cannot be used (missing, corrupt, or of another search)."""


def finished_trials(trials: Trials) -> list[dict]:
    """Trials that completed with a loss, in order."""
    return [t for t in trials.trials if t["result"].get("status") == STATUS_OK]


def record(trial: dict) -> dict:
    """The JSON line of one finished trial (the objective stores everything in `result`)."""
    result, vals = trial["result"], trial["misc"]["vals"]
    return {
        "tid": trial["tid"],
        "loss": result["loss"],
        "params": result["params"],
        "metrics": result.get("metrics", {}),
        "history": result.get("history", {}),
        "duration_s": result.get("duration_s"),
        "finished": trial["refresh_time"].isoformat() if trial.get("refresh_time") else None,
        # Hyperopt's draw (choice indices, not values): what a Spark run resumes from
        "vals": {name: [np.asarray(v).item() for v in drawn] for name, drawn in vals.items()},
    }


def insert_done(trials: Trials, docs: list[dict]) -> Trials:
    """`trials` (empty) holding the finished trial documents `docs` under their own numbers;
    the numbers of trials that never finished stay reserved, so new trials do not reuse them."""
    if docs:
        trials.new_trial_ids(max(d["tid"] for d in docs) + 1)
    trials.insert_trial_docs(docs)
    trials.refresh()
    return trials


def _document(trials: Trials, line: dict) -> dict:
    """The Hyperopt trial document of one log line, as TPE reads it."""
    tid, vals = line["tid"], line["vals"]
    misc = {
        "tid": tid,
        "cmd": ("domain_attachment", "FMinIter_Domain"),
        "workdir": None,
        "idxs": {name: [tid] if drawn else [] for name, drawn in vals.items()},
        "vals": vals,
    }
    result = {
        "status": STATUS_OK,
        "loss": line["loss"],
        "params": line["params"],
        "metrics": line["metrics"],
        "history": line["history"],
        "duration_s": line["duration_s"],
    }
    [doc] = trials.new_trial_docs([tid], [None], [result], [misc])
    doc["state"] = JOB_STATE_DONE
    doc["refresh_time"] = datetime.fromisoformat(line["finished"]) if line["finished"] else None
    return doc


class RunStore:
    """One run folder: `run.json` (settings), `trials.pkl`, `trials.jsonl`."""

    def __init__(self, root: Path) -> None:
        self.root = Path(root)

    @property
    def pickle_path(self) -> Path:
        return self.root / TRIALS_PICKLE

    @property
    def jsonl_path(self) -> Path:
        return self.root / TRIALS_JSONL

    def check_new(self) -> None:
        """Refuse a folder that already holds a run (it would be resumed, not overwritten)."""
        if self.pickle_path.exists() or (self.root / RUN_JSON).exists():
            raise RunError(f"{self.root} already holds a tuning run: resume it with --resume.")

    def create(self, settings: dict) -> Trials:
        """Start a new run (its first finished trial writes the pickle or the first line)."""
        self.check_new()
        write_json(path=self.root / RUN_JSON, value=settings)
        return Trials()

    def settings(self) -> dict:
        path = self.root / RUN_JSON
        if not path.is_file():
            raise RunError(f"{self.root} is not a tuning run folder ({RUN_JSON} is missing).")
        return json.loads(path.read_text())

    def load(self) -> Trials:
        """The Trials of the run (from the pickle, else from the log of a Spark run); the JSON
        log is re-derived from them."""
        self.settings()
        try:
            with open(self.pickle_path, "rb") as handle:
                trials = pickle.load(handle)
        except FileNotFoundError:
            trials = self._trials_from_log()
        except (pickle.UnpicklingError, EOFError, AttributeError) as exc:
            raise RunError(f"{self.pickle_path} cannot be read: {exc}") from exc
        if not isinstance(trials, Trials):
            raise RunError(f"{self.pickle_path} does not hold Hyperopt Trials.")
        self._rewrite_log(trials)
        return trials

    def save(self, trials: Trials) -> None:
        write_bytes(
            path=self.pickle_path, data=pickle.dumps(trials, protocol=pickle.HIGHEST_PROTOCOL)
        )

    def drop_pickle(self) -> None:
        """A Spark run keeps its trials in the log alone: a pickle left by a sequential start
        would hold none of them on the next resume."""
        self.pickle_path.unlink(missing_ok=True)

    def checkpoint(self, trials: Trials) -> None:
        """Persist what has finished: the pickle first (sequential runs), then the new lines."""
        if not trials.asynchronous:
            self.save(trials)
        logged = {line["tid"] for line in self.records()}
        done = [t for t in finished_trials(trials) if t["tid"] not in logged]
        for trial in sorted(done, key=lambda t: (t["refresh_time"] or datetime.min, t["tid"])):
            self._append(trial)

    def _append(self, trial: dict) -> None:
        """One finished trial's line, in one write, synced."""
        line = (json.dumps(record(trial), sort_keys=True) + "\n").encode()
        fd = os.open(self.jsonl_path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
        try:
            os.write(fd, line)
            os.fsync(fd)
        finally:
            os.close(fd)

    def records(self) -> list[dict]:
        """The finished trials' lines in trial order (a Spark run writes them as trials finish;
        a torn last line, if any, is ignored)."""
        if not self.jsonl_path.is_file():
            return []
        rows = []
        for line in self.jsonl_path.read_text().splitlines():
            try:
                rows.append(json.loads(line))
            except json.JSONDecodeError:
                continue
        return sorted(rows, key=lambda row: row["tid"])

    def _trials_from_log(self) -> Trials:
        lines = self.records()
        if any("vals" not in line for line in lines):
            raise RunError(f"{self.jsonl_path} has lines without Hyperopt's draws: cannot resume.")
        trials = Trials()
        return insert_done(trials, [_document(trials, line) for line in lines])

    def _rewrite_log(self, trials: Trials) -> None:
        lines = "".join(
            json.dumps(record(t), sort_keys=True) + "\n" for t in finished_trials(trials)
        )
        write_bytes(path=self.jsonl_path, data=lines.encode())
