"""Management commands that are `python -m ml` commands (`ml.cli`): the same arguments, the same
run, Django's error handling and output."""

from __future__ import annotations

from types import ModuleType
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from ml.cli import CommandFailed


class MlCommand(BaseCommand):
    """Subclasses name their `ml.cli` module; `after` adds what only the site does."""

    command: ModuleType

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.help = self.command.HELP

    def add_arguments(self, parser: CommandParser) -> None:
        self.command.add_arguments(parser)

    def handle(self, *args: Any, **options: Any) -> None:
        try:
            result = self.command.run(options, self.stdout.write)
        except CommandFailed as exc:
            raise CommandError(str(exc)) from exc
        self.after(result, options)

    def after(self, result: Any, options: dict[str, Any]) -> None:
        """What the site adds once the ML command has run (nothing by default)."""
