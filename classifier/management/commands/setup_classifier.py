"""Make sure the site has a classifier: backbone converted, and a default model active."""

from __future__ import annotations

from pathlib import Path

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from classifier.active_model import active_version
from classifier.management.model_switch import switch_or_fail
from classifier.promotion import activate_model, default_operator
from ml.backbone import ensure_backbone
from ml.cli.arguments import add_sources_arguments
from ml.config import shared_data_dir
from ml.data import DatasetError, read_name_map
from ml.finder_fit import current_finder, fit_finder, save_finder, saved_finder
from ml.model import load_params
from ml.train import train_model

# BIRDS-525 is the catalogue; the natural photos of its species in cub100 and field are added
DEFAULT_DATA = ("birds525", "cub100", "field")


class Command(BaseCommand):
    help = (
        "Convert the backbone if needed; if no model is active, train the default model on "
        "--data (all the catalogue's species, plus the added folders' photos of them) and "
        "activate it as promote_model does (its species must be in the Species table: "
        "load_species first). Fast when everything exists."
    )

    def add_arguments(self, parser):
        add_sources_arguments(
            parser,
            default=[
                shared_data_dir() / name
                for name in DEFAULT_DATA
                if name == DEFAULT_DATA[0] or (shared_data_dir() / name).is_dir()
            ],
        )
        # the folders retrain judges on are never trained on (when this machine has them)
        parser.set_defaults(hold_out=[p for p in settings.RETRAIN_HELD_OUT if p.is_dir()])
        parser.add_argument("--params", help="JSON file of head/training parameters")

    def handle(self, *args, data, names, hold_out, params, **options):
        for made in ensure_backbone("lite0").made:
            self.stdout.write(f"Backbone: made {made}")
        active = active_version()
        if active is not None:
            self.stdout.write(f"Classifier ready: model {active} is active.")
            return
        if not Path(data[0]).is_dir():
            self.stdout.write(
                self.style.WARNING(
                    f"No active model and no data at {data[0]}: the site will say the classifier "
                    "is unavailable. Train one with: manage.py setup_classifier --data FOLDER"
                )
            )
            return
        field = shared_data_dir() / "field"
        if saved_finder() is None and (field / "train").is_dir():
            finder, report = fit_finder(
                field, split="train", crops_root=shared_data_dir() / "cub100"
            )
            save_finder(finder)
            self.stdout.write(
                f"Bird finder: {report['chosen']} fitted on {report['photos']} photos of {field} "
                f"and {report['cut_photos']} photos cut to the bird (boxes found, out of fold: "
                f"{report['iou_hit_out_of_fold'][report['chosen']]:.1%})"
            )
        try:
            model_dir = train_model(
                data[0],
                out_dir=Path(settings.MODELS_DIR),
                params=load_params(params) if params else None,
                log=self.stdout.write,
                finder=current_finder(),
                added=data[1:],
                names=read_name_map(names) if len(data) > 1 else None,
                hold_out=hold_out,
            )
        except DatasetError as exc:
            raise CommandError(str(exc)) from exc
        switch_or_fail(
            lambda: activate_model(model_dir=model_dir, performed_by=default_operator()),
            refused=f"Trained {model_dir}, not activated: ",
        )
        self.stdout.write(
            self.style.SUCCESS(f"Classifier ready: model {model_dir.name} is active.")
        )
