"""Crash-safe persistence of a tuning run: the Hyperopt `Trials` pickle and `trials.jsonl`.

The pickle is the source of truth (written atomically by `ml.atomic`, so it is always a
complete old or new version, even after SIGKILL); `trials.jsonl` is the readable log derived
from it, one line per finished trial, appended after the pickle and rewritten from the pickle
on resume (a kill between the two writes loses no line and duplicates none).
"""

from __future__ import annotations

import json
import os
import pickle
from pathlib import Path

from hyperopt import STATUS_OK, Trials

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
    result = trial["result"]
    return {
        "tid": trial["tid"],
        "loss": result["loss"],
        "params": result["params"],
        "metrics": result.get("metrics", {}),
        "history": result.get("history", {}),
        "duration_s": result.get("duration_s"),
        "finished": trial["refresh_time"].isoformat() if trial.get("refresh_time") else None,
    }


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
        """Start a new run."""
        self.check_new()
        write_json(path=self.root / RUN_JSON, value=settings)
        trials = Trials()
        self.save(trials)
        return trials

    def settings(self) -> dict:
        path = self.root / RUN_JSON
        if not path.is_file():
            raise RunError(f"{self.root} is not a tuning run folder ({RUN_JSON} is missing).")
        return json.loads(path.read_text())

    def load(self) -> Trials:
        """The Trials of the run; the JSON log is re-derived from them."""
        try:
            with open(self.pickle_path, "rb") as handle:
                trials = pickle.load(handle)
        except FileNotFoundError as exc:
            raise RunError(f"{self.root} has no {TRIALS_PICKLE}: nothing to resume.") from exc
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

    def append(self, trial: dict) -> None:
        """One finished trial's line, in one write, synced."""
        line = (json.dumps(record(trial), sort_keys=True) + "\n").encode()
        fd = os.open(self.jsonl_path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
        try:
            os.write(fd, line)
            os.fsync(fd)
        finally:
            os.close(fd)

    def records(self) -> list[dict]:
        """The finished trials' lines (a torn last line, if any, is ignored)."""
        if not self.jsonl_path.is_file():
            return []
        rows = []
        for line in self.jsonl_path.read_text().splitlines():
            try:
                rows.append(json.loads(line))
            except json.JSONDecodeError:
                continue
        return rows

    def _rewrite_log(self, trials: Trials) -> None:
        lines = "".join(
            json.dumps(record(t), sort_keys=True) + "\n" for t in finished_trials(trials)
        )
        write_bytes(path=self.jsonl_path, data=lines.encode())
