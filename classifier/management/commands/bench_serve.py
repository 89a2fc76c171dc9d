"""Serving benchmark on the real stack (`benchmarks.serve`): prints and saves JSON figures."""

from __future__ import annotations

import json
import os
from pathlib import Path

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from benchmarks import serve
from ml import runtimes
from ml.config import shared_data_dir
from ml.model_dir import ModelDir, ModelDirError


class Command(BaseCommand):
    help = (
        "Start the site under gunicorn (the project's config) on a fresh PostgreSQL database and "
        "a moto S3 server, beside a bare decode-and-predict app and the baseline commit's site; "
        "load them in turns with concurrent clients (one client, 224 px, full-size field photos, "
        "a phone-size photo, create sighting); report latency, throughput, CPU per request, "
        "errors, lost sightings, worker memory, the bare model per engine and #18's targets."
    )

    def add_arguments(self, parser) -> None:
        parser.add_argument("--model", type=Path, help="model directory (default: the active one)")
        parser.add_argument("--workers", type=int, default=2)
        parser.add_argument("--threads", type=int, help="per worker (default: gunicorn config)")
        parser.add_argument("--clients", type=int, default=4)
        parser.add_argument(
            "--duration", type=float, default=20.0, help="seconds per phase and server"
        )
        parser.add_argument(
            "--rounds", type=int, default=2, help="turns the servers take in each phase (A B A B)"
        )
        parser.add_argument(
            "--baseline",
            default=serve.BEFORE_SERVING_WORK,
            help="commit whose site is measured beside this one (default: before #18's work)",
        )
        parser.add_argument(
            "--no-baseline", action="store_true", help="measure this checkout and the bare app only"
        )
        parser.add_argument(
            "--model-threads",
            type=int,
            help="default: BIRDSITE_MODEL_THREADS (gunicorn config: cores / workers)",
        )
        parser.add_argument(
            "--runtime",
            default=runtimes.requested(),
            help="the workers' BIRDSITE_RUNTIME (auto: the runtime check runs first)",
        )
        parser.add_argument("--rate", default="1000000/min", help="the bench user's predict rate")
        parser.add_argument(
            "--admin-database",
            default="postgresql://postgres@127.0.0.1:5432/postgres",
            help="PostgreSQL where the throwaway bench database is created",
        )
        parser.add_argument("--redis-url", default=os.environ.get("REDIS_URL", ""))
        parser.add_argument("--photos", type=Path, default=shared_data_dir() / "birds525" / "valid")
        parser.add_argument(
            "--field-photos",
            type=Path,
            default=shared_data_dir() / "field" / "valid",
            help="full-size photos (the finder's second pass runs)",
        )
        parser.add_argument(
            "--catalogue",
            type=Path,
            default=shared_data_dir() / "birds525",
            help="species folder loaded into the bench database before the model is promoted",
        )
        parser.add_argument("--out", type=Path, default=settings.DATA_DIR / "bench" / "serve.json")

    def handle(self, *args, **options) -> None:
        try:
            model = ModelDir.open(path=options["model"] or _active_model_dir())
        except ModelDirError as exc:
            raise CommandError(str(exc)) from exc
        bench = serve.BenchSettings(
            model_dir=model.path.resolve(),
            model_version=model.version,
            photos_dir=options["photos"],
            field_dir=options["field_photos"],
            catalogue=options["catalogue"],
            out=options["out"],
            admin_database=options["admin_database"],
            redis_url=options["redis_url"],
            workers=options["workers"],
            threads=options["threads"],
            clients=options["clients"],
            duration_s=options["duration"],
            rounds=options["rounds"],
            baseline=None if options["no_baseline"] else options["baseline"],
            model_threads=options["model_threads"],
            runtime=options["runtime"],
            predict_user_rate=options["rate"],
        )
        try:
            figures = serve.run(bench, echo=self.stderr.write)
        except serve.BaselineUnavailable as exc:
            raise CommandError(f"{exc} (run with --no-baseline)") from exc
        text = json.dumps(figures, indent=2)
        bench.out.parent.mkdir(parents=True, exist_ok=True)
        bench.out.write_text(text + "\n")
        self.stdout.write(text)
        self.stderr.write(_targets_table(figures["targets"]))


def _active_model_dir() -> Path:
    from classifier.active_model import active_model_dir

    model_dir = active_model_dir()
    if model_dir is None:
        raise CommandError("no active model: pass --model DIR")
    return model_dir


def _targets_table(targets: dict[str, dict]) -> str:
    lines = [f"{'target':<28} {'value':>9}  {'wanted':<8} met"]
    for name, row in targets.items():
        met = "yes" if row["met"] else "NO"
        lines.append(f"{name:<28} {row['value']!s:>9}  {row['target']:<8} {met}")
    return "\n".join(lines)
