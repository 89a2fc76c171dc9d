"""What the database benchmarks share: Django set up on the test settings, a throwaway database
for the run, and the figures printed and saved as JSON."""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Callable
from pathlib import Path


def setup_django() -> None:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "birdsite.test_settings")
    import django

    django.setup()


def run_on_throwaway_database(*, name: str, run: Callable[[], dict], output: Path) -> dict:
    """`run()` on a new database called `name` (dropped afterwards, whatever happens); its
    figures printed and saved to `output`. Call `setup_django` first."""
    from django.db import connection

    connection.settings_dict.setdefault("TEST", {})["NAME"] = name
    old_name = connection.creation.create_test_db(verbosity=0, autoclobber=True)
    try:
        figures = run()
    finally:
        connection.creation.destroy_test_db(old_name, verbosity=0)
    output.parent.mkdir(parents=True, exist_ok=True)
    output.write_text(json.dumps(figures, indent=2) + "\n")
    print(json.dumps(figures, indent=2))
    print(f"saved {output}", file=sys.stderr)
    return figures
