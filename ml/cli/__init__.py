"""`python -m ml COMMAND ...`: the pipeline's commands without Django.

Each command is a module here with `HELP`, `add_arguments(parser)` and `run(options, log)`
(`ml.__main__` lists them); `manage.py` has a command of the same name that wraps it
(`classifier.management.ml_command`), so the site's operators and the pipeline's users type the
same words. `run` raises
`CommandFailed` for bad input, with a message that says what to fix.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

Log = Callable[[str], None]


class CommandFailed(Exception):
    """The command cannot do what was asked; the message says why."""


def progress_of(options: dict[str, Any]) -> bool:
    """Progress bars unless `--verbosity 0` (Django's option; `python -m ml` has it too)."""
    return options.get("verbosity", 1) > 0
