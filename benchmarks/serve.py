"""Serving benchmark on the real stack (`benchmarks.stack`): gunicorn (the project's config) +
PostgreSQL + S3, loaded by concurrent keep-alive clients while every worker's memory is sampled.

`manage.py bench_serve` calls `run`, which reports latency, throughput, errors, lost sightings
and worker peak memory as JSON figures.
"""

from __future__ import annotations

import http.client
import io
import json
import os
import runpy
import subprocess
import sys
import tempfile
import threading
import time
import urllib.parse
from collections.abc import Callable
from contextlib import ExitStack
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import psycopg
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test.client import BOUNDARY, MULTIPART_CONTENT, encode_multipart
from PIL import Image

from benchmarks.stack import (
    GUNICORN_CONFIG,
    bucket_keys,
    create_api_user,
    create_bucket,
    gunicorn,
    manage,
    moto_server,
    site_env,
    temporary_database,
    worker_pids,
)
from ml.agreement import AgreementStore, choose_engine
from ml.runtimes import AUTO, RUNTIME_ENV, Engine
from ml.threads import THREADS_ENV

# (path, file field) of the two API endpoints under load.
PREDICT = ("/api/v1/predict/", "image")
CREATE = ("/api/v1/sightings/", "photo")
PHONE_SIZE = (4000, 3000)


# --- memory ------------------------------------------------------------------------------------
def peak_rss_mb(pid: int) -> float | None:
    """The process's peak resident memory (VmHWM), None once it has gone."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    except FileNotFoundError:
        return None
    return None


class PeakMemory:
    """Samples every worker's VmHWM while the bench runs (workers may be recycled)."""

    def __init__(self, master_pid: int, interval: float = 0.5) -> None:
        self.master_pid, self.interval = master_pid, interval
        self.peaks: dict[int, float] = {}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._watch, daemon=True)

    def __enter__(self) -> PeakMemory:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()
        self.sample()

    def sample(self) -> None:
        for pid in worker_pids(self.master_pid):
            peak = peak_rss_mb(pid)
            if peak is not None:
                self.peaks[pid] = max(peak, self.peaks.get(pid, 0.0))

    def peak(self) -> float:
        return round(max(self.peaks.values(), default=0.0), 1)

    def _watch(self) -> None:
        while not self._stop.wait(self.interval):
            self.sample()


def cpu_seconds(pids: list[int]) -> float:
    """User + system CPU the processes have used so far (/proc/<pid>/stat); gone ones count 0."""
    ticks = os.sysconf("SC_CLK_TCK")
    total = 0
    for pid in pids:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except FileNotFoundError:
            continue
        total += int(fields[11]) + int(fields[12])  # utime, stime (fields 14 and 15)
    return total / ticks


# --- load --------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Photo:
    name: str
    content: bytes


@dataclass
class PhaseResult:
    latencies_ms: list[float] = field(default_factory=list)
    errors: int = 0
    created_ids: list[int] = field(default_factory=list)
    seconds: float = 0.0
    cpu_seconds: float = 0.0  # of the gunicorn master and workers over the phase
    worker_peak_rss_mb: float = 0.0  # the highest worker VmHWM by the end of this phase
    error_samples: list[str] = field(default_factory=list)

    def summary(self) -> dict[str, float | int]:
        latencies = self.latencies_ms or [float("nan")]
        return {
            "p50_ms": round(percentile(latencies, 50), 1),
            "p95_ms": round(percentile(latencies, 95), 1),
            "p99_ms": round(percentile(latencies, 99), 1),
            "requests_per_s": round(len(self.latencies_ms) / self.seconds, 1),
            "cpu_ms_per_request": round(
                self.cpu_seconds * 1000 / max(1, len(self.latencies_ms)), 1
            ),
            "errors": self.errors,
            "worker_peak_rss_mb_so_far": self.worker_peak_rss_mb,
        }


def percentile(values: list[float], q: float) -> float:
    return float(np.percentile(values, q))


def run_phase(
    *,
    url: str,
    field_name: str,
    token: str,
    photos: list[Photo],
    clients: int,
    duration: float,
    expected_status: int,
) -> PhaseResult:
    """`clients` keep-alive connections POSTing photos in turn for `duration` seconds.

    The multipart bodies are encoded (by Django's test client encoder) before the clock starts
    and sent with `http.client`: the load generator shares the two cores with the server, so it
    must cost as little as it can.
    """
    result = PhaseResult()
    lock = threading.Lock()
    target = urllib.parse.urlsplit(url)
    bodies = [
        encode_multipart(
            BOUNDARY, {field_name: SimpleUploadedFile(photo.name, photo.content, "image/jpeg")}
        )
        for photo in photos
    ]
    headers = {"Authorization": f"Token {token}", "Content-Type": MULTIPART_CONTENT}
    deadline = time.monotonic() + duration

    def client(offset: int) -> None:
        connection = http.client.HTTPConnection(target.hostname, target.port, timeout=60)
        index = offset
        try:
            while time.monotonic() < deadline:
                body = bodies[index % len(bodies)]
                index += clients
                outcome = _post(connection, target.path, body, headers, expected_status)
                with lock:
                    _record(result, *outcome)
        finally:
            connection.close()

    started = time.monotonic()
    threads = [threading.Thread(target=client, args=(n,)) for n in range(clients)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    result.seconds = time.monotonic() - started
    return result


def _post(
    connection: http.client.HTTPConnection,
    path: str,
    body: bytes,
    headers: dict[str, str],
    expected_status: int,
) -> tuple[float, str | None, int | None]:
    """One request: (latency ms, error description or None, created id or None)."""
    started = time.perf_counter()
    try:
        connection.request("POST", path, body, headers)
        response = connection.getresponse()
        content = response.read()
    except (OSError, http.client.HTTPException) as exc:
        connection.close()  # the next request reconnects
        return (time.perf_counter() - started) * 1000, f"{type(exc).__name__}: {exc}", None
    latency = (time.perf_counter() - started) * 1000
    if response.status != expected_status:
        return latency, f"{response.status}: {content[:200].decode(errors='replace')}", None
    created = json.loads(content).get("id") if expected_status == 201 else None
    return latency, None, created


def _record(result: PhaseResult, latency: float, error: str | None, created: int | None) -> None:
    if error is not None:
        result.errors += 1
        if len(result.error_samples) < 5:
            result.error_samples.append(error)
        return
    result.latencies_ms.append(latency)
    if created is not None:
        result.created_ids.append(created)


def small_photos(root: Path, count: int) -> list[Photo]:
    """Real 224 px photos, one per species across the collection."""
    species = sorted(p for p in root.iterdir() if p.is_dir())
    step = max(1, len(species) // count)
    paths = [sorted(folder.glob("*.jpg"))[0] for folder in species[::step][:count]]
    return [Photo(path.name, path.read_bytes()) for path in paths]


def field_photos(root: Path, count: int) -> list[Photo]:
    """Real full-size photos (the bird in part of the frame: the finder's second pass runs)."""
    paths = sorted(root.rglob("*.jpg"))
    step = max(1, len(paths) // count)
    return [Photo(path.name, path.read_bytes()) for path in paths[::step][:count]]


def bare_model_ms(
    model_dir: Path, *, engine: Engine, photos: list[Photo], fields: list[Photo]
) -> dict[str, float]:
    """Median ms per photo of the served engine alone (decode, both passes, verdict), one
    thread, in this process: what a request costs without any server around it."""
    from ml.predict import Predictor

    predictor = Predictor.load(model_dir, num_threads=1, engine=engine)
    figures = {}
    for name, batch in (("224", photos), ("field", fields)):
        predictor.predict(batch[0].content)  # warm-up
        times = []
        for photo in batch:
            started = time.perf_counter()
            predictor.predict(photo.content)
            times.append((time.perf_counter() - started) * 1000)
        figures[name] = round(percentile(times, 50), 2)
    return figures


def phone_photo(photo: Photo) -> Photo:
    """A phone-size (4000x3000) JPEG made by upscaling a real photo."""
    image = Image.open(io.BytesIO(photo.content)).convert("RGB")
    buffer = io.BytesIO()
    image.resize(PHONE_SIZE, Image.Resampling.BICUBIC).save(buffer, "JPEG", quality=90)
    return Photo(f"phone-{photo.name}", buffer.getvalue())


def lost_sightings(*, database: str, ids: list[int], s3_endpoint: str, bucket: str) -> int:
    """201 answers whose row, or whose stored photo, is missing afterwards."""
    with psycopg.connect(database) as conn:
        rows = dict(
            conn.execute(
                "SELECT id, photo FROM classifier_sighting WHERE id = ANY(%s)", (ids,)
            ).fetchall()
        )
    keys = bucket_keys(s3_endpoint, bucket)
    return sum(1 for pk in ids if pk not in rows or rows[pk] not in keys)


# --- the benchmark -----------------------------------------------------------------------------
@dataclass(frozen=True)
class BenchSettings:
    model_dir: Path
    model_version: str
    photos_dir: Path
    field_dir: Path  # full-size photos (field/valid)
    out: Path
    catalogue: Path  # the species folder the model's species come from (loaded before promotion)
    admin_database: str = "postgresql://postgres@127.0.0.1:5432/postgres"
    redis_url: str = ""
    workers: int = 2
    threads: int | None = None  # None: the gunicorn config's
    clients: int = 4
    duration_s: float = 20.0
    model_threads: int | None = None  # None: the gunicorn config's (cores / workers)
    runtime: str = "auto"  # BIRDSITE_RUNTIME of the workers
    predict_user_rate: str = "1000000/min"
    photo_count: int = 64
    phone_photo_count: int = 4


def run(options: BenchSettings, echo: Callable[[str], None] = print) -> dict:
    """Start the stack, run the three phases, check every created sighting; the JSON figures."""
    photos = small_photos(options.photos_dir, options.photo_count)
    phones = [phone_photo(p) for p in photos[: options.phone_photo_count]]
    fields = field_photos(options.field_dir, options.photo_count)
    with ExitStack() as stack:
        tmp = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="bench-serve-")))
        database = stack.enter_context(temporary_database(options.admin_database))
        _, endpoint = stack.enter_context(moto_server())
        bucket = create_bucket(endpoint)
        env = site_env(
            database=database,
            s3_endpoint=endpoint,
            bucket=bucket,
            data_dir=tmp,
            BIRDSITE_PREDICT_USER_RATE=options.predict_user_rate,
            **_optional_env(options),
        )
        manage(env, "migrate", "--noinput")
        manage(env, "load_species", "--data", str(options.catalogue), "--photos", "0")
        manage(env, "promote_model", str(options.model_dir), "--by", "bench_serve")
        engine = _checked_engine(options, env=env, data_dir=tmp, echo=echo)
        token = create_api_user(env, "bench")
        log = tmp / "gunicorn.log"
        master, base = stack.enter_context(
            gunicorn(env, log=log, workers=options.workers, threads=options.threads)
        )
        echo(f"gunicorn {base} (log {log}), warming up")
        warm = run_phase(
            url=base + PREDICT[0],
            field_name=PREDICT[1],
            token=token,
            photos=photos,
            clients=options.clients,
            duration=3.0,
            expected_status=200,
        )
        if warm.errors:
            tail = log.read_text(errors="replace")[-3000:]
            raise RuntimeError(f"the warm-up failed: {warm.error_samples[:2]}\n{tail}")
        phases: dict[str, PhaseResult] = {}
        with PeakMemory(master.pid) as memory:
            for name, (path, field_name), bodies, clients, status in (
                ("single_client", PREDICT, photos, 1, 200),
                ("predict_224", PREDICT, photos, options.clients, 200),
                ("predict_field", PREDICT, fields, options.clients, 200),
                ("predict_phone", PREDICT, phones, 1, 200),
                ("create", CREATE, photos, options.clients, 201),
            ):
                echo(f"{name}: {clients} client(s) for {options.duration_s} s")
                processes = [master.pid, *worker_pids(master.pid)]
                cpu_before = cpu_seconds(processes)
                phases[name] = run_phase(
                    url=base + path,
                    field_name=field_name,
                    token=token,
                    photos=bodies,
                    clients=clients,
                    duration=options.duration_s,
                    expected_status=status,
                )
                phases[name].cpu_seconds = cpu_seconds(processes) - cpu_before
                memory.sample()
                phases[name].worker_peak_rss_mb = memory.peak()
        lost = lost_sightings(
            database=database, ids=phases["create"].created_ids, s3_endpoint=endpoint, bucket=bucket
        )
    figures = _figures(options, phases, lost, memory, _gunicorn_threads(options))
    echo("timing the bare model (one thread, finder included)")
    model_ms = bare_model_ms(options.model_dir, engine=engine, photos=photos, fields=fields)
    return {
        "runtime": engine.key,
        "single_client.model_ms": model_ms["224"],
        "predict_field.model_ms": model_ms["field"],
        "errors": sum(result.errors for result in phases.values()),
        **figures,
    }


def _optional_env(options: BenchSettings) -> dict[str, str]:
    env = {RUNTIME_ENV: options.runtime}
    if options.model_threads is not None:
        env[THREADS_ENV] = str(options.model_threads)
    if options.redis_url:
        env["REDIS_URL"] = options.redis_url
    return env


def _gunicorn_threads(options: BenchSettings) -> int:
    """The threads per worker actually used: the option, else what the config file says."""
    if options.threads is not None:
        return options.threads
    return int(runpy.run_path(str(GUNICORN_CONFIG)).get("threads", 1))


def _figures(
    options: BenchSettings,
    phases: dict[str, PhaseResult],
    lost: int,
    memory: PeakMemory,
    threads: int,
) -> dict:
    figures: dict = {}
    for name, result in phases.items():
        figures.update({f"{name}.{key}": value for key, value in result.summary().items()})
    figures["create.lost"] = lost
    figures["create.created"] = len(phases["create"].created_ids)
    figures["worker_peak_rss_mb"] = memory.peak()
    figures["error_samples"] = {n: r.error_samples for n, r in phases.items() if r.error_samples}
    figures["settings"] = {
        **{k: str(v) for k, v in asdict(options).items() if isinstance(v, Path)},
        "workers": options.workers,
        "threads": threads,
        "clients": options.clients,
        "duration_s": options.duration_s,
        "predict_user_rate": options.predict_user_rate,
        "model_version": options.model_version,
        "model_threads": options.model_threads or "gunicorn config (cores / workers)",
        "workers_seen": len(memory.peaks),
        "redis": bool(options.redis_url),
        "cpus": os.cpu_count(),
    }
    return figures


def _checked_engine(
    options: BenchSettings, *, env: dict[str, str], data_dir: Path, echo: Callable[[str], None]
) -> Engine:
    """The engine the workers will serve on. With `auto`, the runtime check runs first, into
    the stack's own data dir, so that the workers choose from their first request on instead
    of checking in the background while they are measured."""
    store = AgreementStore(data_dir / "runtime-checks")
    if options.runtime == AUTO:
        echo("checking the runtimes (python -m ml check_runtimes)")
        command = [sys.executable, "-m", "ml", "check_runtimes", "-v", "0"]
        command += ["--model", str(options.model_dir), "--store", str(store.root)]
        subprocess.run(command, env=env, check=True, stdout=subprocess.DEVNULL)
    choice = choose_engine(
        store=store, model_version=options.model_version, requested=options.runtime
    )
    echo(f"workers serve on {choice.engine.key}: {choice.reason}")
    return choice.engine
