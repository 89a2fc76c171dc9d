"""TensorFlow's and LiteRT's own log lines, off unless `BIRDSITE_TF_LOGS=1` (set up by `ml`'s
`__init__`, before either is imported): their start-up lines would bury what the commands say.
Errors and warnings are still shown, but for tf.function's retracing notice (expected here).

`TF_CPP_MIN_LOG_LEVEL` quiets TensorFlow's C++ logging, but not absl's lines written before
absl's logging is initialised: TensorFlow 2.21 writes "All log messages before
absl::InitializeLog() is called are written to STDERR" and its oneDNN notice (twice, one per
copy of its core library) that way, whatever the level. So the first `import tensorflow` runs
with the process's stderr caught, and what it wrote comes back without absl's INFO lines.
"""

from __future__ import annotations

import importlib.abc
import importlib.machinery
import logging
import os
import re
import sys
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from types import ModuleType

ENV = "BIRDSITE_TF_LOGS"
# absl's notice, and its INFO lines ("I0000 00:00:1796656925.031645    8116 port.cc:153] ...").
ABSL_START_UP = re.compile(
    r"WARNING: All log messages before absl::InitializeLog\(\) is called are written to STDERR"
    r"|I\d{4} [\d:.]+ +\d+ [\w.]+:\d+\] "
)


def wanted() -> bool:
    return os.environ.get(ENV, "") in {"1", "true", "yes", "on"}


def quiet() -> None:
    """Errors and warnings only, from TensorFlow's C++ and Python loggers and from absl's."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    for name in ("tensorflow", "absl"):
        logging.getLogger(name).setLevel(logging.WARNING)
    logging.getLogger("tensorflow").addFilter(_expected_retracing)
    if not any(isinstance(finder, _QuietImport) for finder in sys.meta_path):
        sys.meta_path.insert(0, _QuietImport())


def _expected_retracing(record: logging.LogRecord) -> bool:
    """Leave out "N out of the last N calls to <function> triggered tf.function retracing":
    tuning and evaluation build a new model each trial or run, and each one traces anew."""
    return "triggered tf.function retracing" not in record.getMessage()


def without_start_up_lines(text: str) -> str:
    return "".join(line for line in text.splitlines(keepends=True) if not ABSL_START_UP.match(line))


@contextmanager
def _start_up_lines_dropped() -> Iterator[None]:
    """Catch what the process writes to file descriptor 2 (C++ writes there, not to
    `sys.stderr`) and write it back, absl's start-up lines left out."""
    sys.stderr.flush()
    saved = os.dup(2)
    with tempfile.TemporaryFile() as caught:
        os.dup2(caught.fileno(), 2)
        try:
            yield
        finally:
            sys.stderr.flush()
            os.dup2(saved, 2)
            os.close(saved)
            caught.seek(0)
            sys.stderr.write(without_start_up_lines(caught.read().decode(errors="replace")))
            sys.stderr.flush()


class _QuietImport(importlib.abc.MetaPathFinder):
    """Finds `tensorflow` once, with a loader that imports it under `_start_up_lines_dropped`."""

    def find_spec(self, name: str, path: object, target: object = None):
        if name != "tensorflow":
            return None
        sys.meta_path.remove(self)
        spec = importlib.machinery.PathFinder.find_spec(name, path)
        if spec is not None and spec.loader is not None:
            spec.loader = _QuietLoader(spec.loader)
        return spec


class _QuietLoader(importlib.abc.Loader):
    def __init__(self, loader: importlib.abc.Loader) -> None:
        self.loader = loader

    def create_module(self, spec: importlib.machinery.ModuleSpec) -> ModuleType | None:
        return self.loader.create_module(spec)

    def exec_module(self, module: ModuleType) -> None:
        with _start_up_lines_dropped():
            self.loader.exec_module(module)
