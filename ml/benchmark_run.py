"""What the sections of one `bench_ml` run share, so each section takes one argument for it."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path

from ml.features import Extractor
from ml.finder import Finder
from ml.model import HeadParams


@dataclass(frozen=True)
class BenchRun:
    """Head parameters (None: each data set's defaults for its photos per species), the feature
    extractor and its cache, where models go, the log, and the bird finder (None: one pass)."""

    params: HeadParams | None
    extractor: Extractor
    cache: Path
    out: Path
    log: Callable[[str], None]
    finder: Finder | None = None

    def one_pass(self) -> BenchRun:
        """The same run without the finder: the full frame only."""
        return replace(self, finder=None)

    def training(self) -> dict:
        """`ml.train.train_model`'s keyword arguments for this run."""
        return {
            "out_dir": self.out,
            "params": self.params,
            "extractor": self.extractor,
            "cache_dir": self.cache,
            "log": self.log,
            "finder": self.finder,
        }
