"""Progress of the long commands, on stderr: a redrawn tqdm bar on a terminal; on a pipe (a CI
log, `tee`), where every redraw would be a line of its own, a plain line at most every
`PIPE_INTERVAL` seconds and one closing line with the count and the time."""

from __future__ import annotations

import sys
import time
from collections.abc import Iterable, Iterator
from typing import Any

from tqdm import tqdm

PIPE_INTERVAL = 60.0  # seconds between two progress lines on a pipe


def progress(
    iterable: Iterable | None = None,
    *,
    total: int | None = None,
    desc: str,
    unit: str = "it",
    disable: bool = False,
    initial: int = 0,
) -> Any:
    """A bar for `iterable` (or for `update` calls up to `total`): tqdm on a terminal, lines on
    a pipe; both have `update`, `set_postfix`, `close` and work as context managers."""
    if sys.stderr.isatty():
        return tqdm(iterable, total=total, desc=desc, unit=unit, disable=disable, initial=initial)
    return PipeProgress(
        iterable, total=total, desc=desc, unit=unit, disable=disable, initial=initial
    )


class PipeProgress:
    """The pipe's progress: few lines, each one complete."""

    def __init__(
        self,
        iterable: Iterable | None,
        *,
        total: int | None,
        desc: str,
        unit: str,
        disable: bool,
        initial: int,
    ) -> None:
        self.iterable = iterable
        self.total = total if total is not None else _length(iterable)
        self.desc, self.unit, self.disable = desc, unit, disable
        self.n = initial
        self.postfix = ""
        self.started = self.shown = time.monotonic()
        self.shown_n: int | None = None  # the count the last line showed
        self.closed = False

    def __iter__(self) -> Iterator:
        for item in self.iterable or ():
            yield item
            self.update()
        self.close()

    def __enter__(self) -> PipeProgress:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def update(self, n: int = 1) -> None:
        self.n += n
        now = time.monotonic()
        if now - self.shown >= PIPE_INTERVAL:
            self.shown = now
            self._line()

    def set_postfix(self, **values: object) -> None:
        self.postfix = ", ".join(f"{k} {v}" for k, v in values.items())

    def close(self) -> None:
        if not self.closed:
            self.closed = True
            if self.shown_n != self.n:
                self._line()

    def _line(self) -> None:
        if self.disable:
            return
        self.shown_n = self.n
        count = f"{self.n}/{self.total}" if self.total else str(self.n)
        seconds = time.monotonic() - self.started
        postfix = f", {self.postfix}" if self.postfix else ""
        print(
            f"{self.desc}: {count} {self.unit} ({seconds:.0f} s{postfix})",
            file=sys.stderr,
            flush=True,
        )


def _length(iterable: Iterable | None) -> int | None:
    try:
        return len(iterable)  # type: ignore[arg-type]
    except TypeError:
        return None
