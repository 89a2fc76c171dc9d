"""`birdsite/` is the project's configuration only (the import contracts in pyproject.toml,
checked by lint-imports, hold the rest of the layout)."""

from __future__ import annotations

from tests.conftest import REPO

PROJECT_FILES = {"__init__.py", "asgi.py", "settings.py", "test_settings.py", "urls.py", "wsgi.py"}


def test_birdsite_is_the_project_configuration_only():
    folder = REPO / "birdsite"
    assert {path.name for path in folder.glob("*.py")} == PROJECT_FILES
    assert [path.name for path in folder.iterdir() if path.is_dir()] in ([], ["__pycache__"])
