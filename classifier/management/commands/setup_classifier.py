"""Make sure the site has a classifier: backbone converted, and a default model active."""

from __future__ import annotations

from pathlib import Path

from django.core.management.base import BaseCommand

from ml.config import shared_data_dir


class Command(BaseCommand):
    help = (
        "Convert the backbone if needed; if no model is active, train the default model on "
        "--data (all species) and activate it. Fast when everything exists."
    )

    def add_arguments(self, parser):
        parser.add_argument(
            "--data",
            default=str(shared_data_dir() / "birds525"),
            help="BIRDS-525-layout folder to train the default model on",
        )
        parser.add_argument("--params", help="JSON file of head/training parameters")

    def handle(self, *args, data, params, **options):
        from ml.backbone import ensure_backbone
        from ml.registry import active_model_dir

        for made in ensure_backbone("lite0").made:
            self.stdout.write(f"Backbone: made {made}")
        active = active_model_dir()
        if active is not None:
            self.stdout.write(f"Classifier ready: model {active.name} is active.")
            return
        if not Path(data).is_dir():
            self.stdout.write(
                self.style.WARNING(
                    f"No active model and no data at {data}: the site will say the classifier is "
                    "unavailable. Train one with: manage.py setup_classifier --data FOLDER"
                )
            )
            return
        from ml.finder_fit import current_finder, fit_finder, save_finder, saved_finder
        from ml.model import load_params
        from ml.registry import activate
        from ml.train import train_model

        field = shared_data_dir() / "field"
        if saved_finder() is None and (field / "train").is_dir():
            finder, report = fit_finder(field, "train")
            save_finder(finder)
            self.stdout.write(
                f"Bird finder: {report['chosen']} fitted on {report['photos']} photos of {field} "
                f"(boxes found, out of fold: {report['iou_hit_out_of_fold'][report['chosen']]:.1%})"
            )
        model_dir = train_model(
            Path(data),
            None,
            load_params(params) if params else None,
            log=self.stdout.write,
            finder=current_finder(),
        )
        activate(model_dir)
        self.stdout.write(
            self.style.SUCCESS(f"Classifier ready: model {model_dir.name} is active.")
        )
