"""The schema stays as the landed migrations make it: no model change without a migration, and
the apps and tables keep their names (a database made before the layout moved migrates as a
no-op)."""

from __future__ import annotations

import pytest
from django.apps import apps
from django.core.management import call_command

TABLES = {
    "accounts_user",
    "classifier_modelpromotion",
    "classifier_pendingphoto",
    "classifier_sighting",
    "classifier_species",
    "classifier_speciesphoto",
}


@pytest.mark.django_db  # makemigrations checks the migration history it finds
def test_the_models_need_no_new_migration() -> None:
    call_command("makemigrations", check=True, dry_run=True, verbosity=0)  # exits 1 if they do


def test_app_labels_and_tables_keep_their_names() -> None:
    ours = {"accounts", "classifier", "core"}
    assert ours <= {config.label for config in apps.get_app_configs()}
    assert {m._meta.db_table for m in apps.get_models() if m._meta.app_label in ours} == TABLES
