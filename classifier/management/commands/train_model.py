"""Train a classifier on BIRDS-525-layout folders and write a model directory."""

from __future__ import annotations

from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from classifier.management.arguments import add_sources_arguments


class Command(BaseCommand):
    help = "Train the species head on cached backbone features; write data_dir()/models/<version>."

    def add_arguments(self, parser):
        add_sources_arguments(parser, required=True)
        parser.add_argument(
            "--out", help="folder to create the model directory in (default: models dir)"
        )
        parser.add_argument("--params", help="JSON file of head/training parameters (see ml.model)")
        parser.add_argument("--seed", type=int, default=0)
        parser.add_argument("--per-class", type=int, help="at most N training photos per species")
        parser.add_argument("--species", nargs="+", help="only these species (by name)")
        parser.add_argument("--activate", action="store_true", help="make it the served model")
        parser.add_argument(
            "--no-finder",
            action="store_true",
            help="classify the full frame only (no bird finder, one pass per photo)",
        )

    def handle(
        self,
        *args,
        data,
        names,
        hold_out,
        out,
        params,
        seed,
        per_class,
        species,
        activate,
        no_finder,
        **options,
    ):
        from ml.data import DatasetError, read_name_map
        from ml.finder_fit import current_finder
        from ml.model import load_params
        from ml.registry import activate as activate_model
        from ml.train import train_model

        try:
            model_dir = train_model(
                data[0],
                Path(out) if out else None,
                load_params(params) if params else None,
                seed,
                species,
                per_class,
                log=self.stdout.write,
                finder=None if no_finder else current_finder(),
                added=data[1:],
                names=read_name_map(names) if len(data) > 1 else None,
                hold_out=hold_out,
            )
        except (DatasetError, ValueError, FileNotFoundError) as exc:
            raise CommandError(str(exc)) from exc
        if activate:
            activate_model(model_dir, Path(out) if out else None)
            self.stdout.write(f"Activated {model_dir.name}.")
        self.stdout.write(self.style.SUCCESS(str(model_dir)))
