"""Convert and export the ImageNet backbone once (``ml.backbone.ensure_backbone``)."""

from __future__ import annotations

import time

from django.core.management.base import BaseCommand, CommandError

from ml.backbone import KINDS, ensure_backbone


class Command(BaseCommand):
    help = "Make the backbone's Keras weights and TFLite file under the data dir (cached)."

    def add_arguments(self, parser) -> None:
        parser.add_argument("--kind", choices=KINDS, default="lite0", help="backbone to build")

    def handle(self, *args, kind: str, **options) -> None:
        start = time.perf_counter()
        try:
            files = ensure_backbone(kind)
        except (RuntimeError, FileNotFoundError, ValueError) as exc:
            raise CommandError(str(exc)) from exc
        what = f"built {', '.join(files.made)}" if files.made else "already built, nothing to do"
        self.stdout.write(f"backbone {kind}: {what} in {time.perf_counter() - start:.1f} s")
        self.stdout.write(f"  weights: {files.weights}")
        self.stdout.write(f"  tflite:  {files.tflite}")
