"""Make a balanced few-shot subset of a BIRDS-525-layout data set (optionally downloading it)."""

from __future__ import annotations

from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

KAGGLE_DATASET = "gpiosenka/100-bird-species"


class Command(BaseCommand):
    help = "Write N random train photos per species (other splits as they are) to a new folder."

    def add_arguments(self, parser):
        parser.add_argument("--source", help="data set folder (train/valid/test + birds.csv)")
        parser.add_argument("--out", required=True, help="folder to create")
        parser.add_argument("--per-class", type=int, default=25)
        parser.add_argument("--seed", type=int, default=0)
        parser.add_argument("--overwrite", action="store_true", help="replace a non-empty --out")
        parser.add_argument(
            "--download",
            action="store_true",
            help=f"fetch Kaggle's {KAGGLE_DATASET} with kagglehub as the source",
        )

    def handle(self, *args, source=None, out, per_class, seed, overwrite, download, **options):
        from ml.data import DatasetError, subsample

        if download:
            source = _download()
        if not source:
            raise CommandError("Give --source DIR, or --download.")
        try:
            report = subsample(source, out, per_class, seed, overwrite)
        except DatasetError as exc:
            raise CommandError(str(exc)) from exc
        for name, count in report.short_species.items():
            self.stdout.write(self.style.WARNING(f"{name}: only {count} train photos"))
        carried = ", ".join(f"{k} {v}" for k, v in report.carried_splits.items()) or "none"
        self.stdout.write(
            self.style.SUCCESS(
                f"{sum(report.train_counts.values())} train photos of "
                f"{len(report.train_counts)} species "
                f"({per_class} per species, {len(report.short_species)} with fewer); "
                f"other splits carried: "
                f"{carried}; files {'hard-linked' if report.linked else 'copied'} -> {report.out}"
            )
        )


def _download() -> Path:
    try:
        import kagglehub
    except ImportError as exc:
        raise CommandError("kagglehub is not installed (pip install kagglehub).") from exc
    root = Path(kagglehub.dataset_download(KAGGLE_DATASET))
    # the archive holds the data set at its top or one folder down
    for candidate in (root, *sorted(p for p in root.iterdir() if p.is_dir())):
        if (candidate / "train").is_dir():
            return candidate
    raise CommandError(f"No train/ folder in the download at {root}")
