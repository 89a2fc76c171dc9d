"""The export options `export_training_data` and `retrain` both take, parsed one way."""

from __future__ import annotations

import datetime

from django.core.management.base import CommandError, CommandParser


def add_export_arguments(parser: CommandParser) -> None:
    """`--since YYYY-MM-DD` (read with `since_day`) and `--min-per-species N`."""
    parser.add_argument(
        "--since",
        help="only sightings recorded on or after this day, YYYY-MM-DD (site's time zone)",
    )
    parser.add_argument(
        "--min-per-species",
        type=int,
        default=1,
        help="leave out species with fewer photos than this (default 1)",
    )


def since_day(text: str | datetime.date | None) -> datetime.date | None:
    """`--since` as a day: call_command passes a keyword as given (a string or a date)."""
    if text is None or isinstance(text, datetime.date):
        return text
    try:
        return datetime.date.fromisoformat(text)
    except ValueError:
        raise CommandError(f"--since: {text!r} is not a day; give it as YYYY-MM-DD.") from None
