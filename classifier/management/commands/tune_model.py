"""Hyperopt TPE search of the head's parameters on cached features (``ml.tune``)."""

from __future__ import annotations

import json
import shlex
import sys
from datetime import datetime
from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from ml.config import data_dir
from ml.data import DatasetError
from ml.tune_store import RunError


class Command(BaseCommand):
    help = (
        "Tune the classifier head with Hyperopt TPE on a stratified 20% hold-out of the train "
        "split (cached features: seconds per trial). Every finished trial is saved at once "
        "(RUN_DIR/trials.jsonl and the Trials pickle): --resume RUN_DIR continues a killed run to "
        "--trials in total. At the end the best parameters are trained into "
        "RUN_DIR/best/<version>/ and RUN_DIR/report/ holds the figures and report.md."
    )

    def add_arguments(self, parser) -> None:
        parser.add_argument(
            "--data", type=Path, help="data set folder (BIRDS-525 layout); new runs only"
        )
        parser.add_argument(
            "--trials", type=int, required=True, help="total number of trials of the run"
        )
        parser.add_argument(
            "--resume", type=Path, default=None, metavar="RUN_DIR", help="continue this run"
        )
        parser.add_argument(
            "--out",
            type=Path,
            default=None,
            metavar="RUN_DIR",
            help="new run folder (default: <data dir>/tuning/<time>)",
        )
        parser.add_argument(
            "--per-class",
            type=int,
            default=None,
            help="tune on this many train photos per species (as `subsample`)",
        )
        parser.add_argument("--seed", type=int, default=0)
        parser.add_argument(
            "--no-train", action="store_true", help="skip training the best parameters"
        )
        parser.add_argument(
            "--save-defaults",
            action="store_true",
            help=(
                "also train the built-in (untuned) defaults the same way and, only if the best "
                "parameters beat them on the data set's held-out split (weighted F1), write "
                "them to ml/tuned_params.json (train_model's defaults)"
            ),
        )

    def handle(self, *args, **options) -> None:
        from ml import tune

        if options["trials"] < 1:
            raise CommandError("--trials must be at least 1")
        if options["resume"] and (options["out"] or options["data"]):
            raise CommandError("--resume takes the run folder; --out and --data are for new runs")
        run_dir = (
            options["resume"]
            or options["out"]
            or (data_dir() / "tuning" / datetime.now().strftime("%Y%m%d-%H%M%S"))
        )
        progress = options["verbosity"] > 0
        command = "manage.py tune_model " + shlex.join(sys.argv[2:])
        try:
            store, trials, settings = tune.start_or_resume(
                run_dir=run_dir,
                data=options["data"],
                per_class=options["per_class"],
                seed=options["seed"],
                resume=options["resume"] is not None,
                command=command,
            )
            self.stdout.write(
                f"run {run_dir}: {len(trials.trials)} trials done, going to {options['trials']}"
            )
            result = tune.run_search(store, trials, settings, options["trials"], progress)
        except (RunError, DatasetError, ValueError) as exc:
            raise CommandError(str(exc)) from exc
        best = tune.best_record(store)
        self.stdout.write(
            f"{result.ran} trials in {result.seconds:.0f} s; best trial {best['tid']}: "
            f"loss {best['loss']:.4f} {best['metrics']}"
        )
        self.stdout.write(f"best parameters: {best['params']}")
        best_dir, best_metrics = None, None
        if not options["no_train"]:
            self.stdout.write(f"training the best parameters into {run_dir / 'best'} (train_model)")
            best_dir = tune.train_best(settings, best["params"], run_dir / "best", progress)
            best_metrics = json.loads((best_dir / "metrics.json").read_text())
        report = tune.write_report(store, best_dir, best_metrics)
        self.stdout.write(f"report: {report}")
        if options["save_defaults"]:
            if best_metrics is None:
                raise CommandError("--save-defaults compares trained models: drop --no-train")
            self.stdout.write("training the built-in (untuned) defaults for comparison")
            untuned = tune.untuned_metrics(settings, run_dir / "untuned", progress)
            tuned_f1 = best_metrics.get("weighted_f1")
            untuned_f1 = untuned.get("weighted_f1")
            self.stdout.write(f"held-out weighted F1: tuned {tuned_f1}, untuned {untuned_f1}")
            if not tune.tuned_wins(best_metrics, untuned):
                self.stdout.write(
                    self.style.WARNING(
                        f"the tuned parameters do not beat the untuned ones: "
                        f"{tune.TUNED_PARAMS} left as it is"
                    )
                )
                return
            tune.write_tuned_params(
                best["params"],
                command=settings["command"],
                objective=best["loss"],
                notes={"train_model_metrics": best_metrics, "untuned_metrics": untuned},
            )
            self.stdout.write(f"wrote {tune.TUNED_PARAMS}")
