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
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import psycopg
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test.client import BOUNDARY, MULTIPART_CONTENT, encode_multipart
from PIL import Image

from benchmarks import bare_app
from benchmarks.baseline import BEFORE_SERVING_WORK, BaselineUnavailable, baseline_checkout
from benchmarks.stack import (
    GUNICORN_CONFIG,
    REPO,
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
from ml.agreement import AgreementStore, choose_engine, passed_engines
from ml.cpu import cpu_key
from ml.runtimes import REFERENCE, RUNTIME_ENV, Engine
from ml.threads import THREADS_ENV

__all__ = ["BEFORE_SERVING_WORK", "BaselineUnavailable", "BenchSettings", "run"]

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
    error_samples: list[str] = field(default_factory=list)

    def add(self, other: PhaseResult) -> None:
        """Take in another slice of the same phase (the bench interleaves its targets)."""
        self.latencies_ms += other.latencies_ms
        self.errors += other.errors
        self.created_ids += other.created_ids
        self.seconds += other.seconds
        self.cpu_seconds += other.cpu_seconds
        self.error_samples += other.error_samples[: max(0, 5 - len(self.error_samples))]

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
    duration_s: float = 20.0  # per phase and server, split over the rounds
    rounds: int = 2  # the servers take turns this many times in every phase
    model_threads: int | None = None  # None: the gunicorn config's (cores / workers)
    runtime: str = "auto"  # BIRDSITE_RUNTIME of the workers
    predict_user_rate: str = "1000000/min"
    photo_count: int = 64
    phone_photo_count: int = 4
    baseline: str | None = BEFORE_SERVING_WORK  # None: no baseline server


@dataclass
class Server:
    """One gunicorn under load: the site, the baseline's site or the bare app."""

    name: str
    base_url: str
    token: str
    master: subprocess.Popen
    log: Path
    memory: PeakMemory
    database: str = ""
    bucket: str = ""


@dataclass(frozen=True)
class Phase:
    name: str
    endpoint: tuple[str, str]
    photos: str  # "224", "field" or "phone"
    clients: int
    status: int
    servers: tuple[str, ...]


def phases(clients: int) -> list[Phase]:
    """The load, phase by phase. `stack` (full-size field photos, the finder's second pass) is
    the one measured on all three servers."""
    site_and_baseline = ("site", "baseline")
    return [
        Phase("single_client", PREDICT, "224", 1, 200, site_and_baseline),
        Phase("predict_224", PREDICT, "224", clients, 200, site_and_baseline),
        Phase("stack", PREDICT, "field", clients, 200, ("bare", "site", "baseline")),
        Phase("predict_phone", PREDICT, "phone", 1, 200, site_and_baseline),
        Phase("create", CREATE, "224", clients, 201, site_and_baseline),
    ]


def run(options: BenchSettings, echo: Callable[[str], None] = print) -> dict:
    """Start the servers, run every phase on each of them in turns, check every created
    sighting, time the bare model per engine; the JSON figures."""
    photos = {
        "224": small_photos(options.photos_dir, options.photo_count),
        "field": field_photos(options.field_dir, options.photo_count),
    }
    photos["phone"] = [phone_photo(p) for p in photos["224"][: options.phone_photo_count]]
    with ExitStack() as stack:
        tmp = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="bench-serve-")))
        checkout = None
        if options.baseline:
            checkout = stack.enter_context(baseline_checkout(options.baseline))
            echo(f"baseline: {options.baseline[:12]} checked out in {checkout}")
        _, endpoint = stack.enter_context(moto_server())
        site = stack.enter_context(_site_server(options, "site", tmp / "site", endpoint, echo))
        engine = site.engine
        servers = {"site": site.server}
        if checkout is not None:
            servers["baseline"] = stack.enter_context(
                _site_server(options, "baseline", tmp / "baseline", endpoint, echo, repo=checkout)
            ).server
        servers["bare"] = stack.enter_context(_bare_server(options, engine, tmp / "bare"))
        for server in servers.values():
            _warm_up(server, photos["224"], options.clients)
        results = _measure(options, servers, photos, echo)
        lost = {
            name: lost_sightings(
                database=server.database,
                ids=results[name]["create"].created_ids,
                s3_endpoint=endpoint,
                bucket=server.bucket,
            )
            for name, server in servers.items()
            if "create" in results[name]
        }
        peaks = {name: server.memory.peak() for name, server in servers.items()}
    echo("timing the bare model per engine that passed (one thread, finder included)")
    model_ms = {
        passed.key: bare_model_ms(
            options.model_dir, engine=passed, photos=photos["224"], fields=photos["field"]
        )
        for passed in dict.fromkeys([engine, *site.passed])
    }
    figures = _figures(options, results, lost, peaks, engine, model_ms)
    figures["targets"] = targets(figures)
    return figures


@dataclass
class SiteServer:
    server: Server
    engine: Engine
    passed: list[Engine]


@contextmanager
def _site_server(
    options: BenchSettings,
    name: str,
    data_dir: Path,
    s3_endpoint: str,
    echo: Callable[[str], None],
    *,
    repo: Path = REPO,
) -> Iterator[SiteServer]:
    """The full site of checkout `repo` on its own database, bucket and data dir."""
    data_dir.mkdir()
    with ExitStack() as stack:
        database = stack.enter_context(temporary_database(options.admin_database))
        bucket = create_bucket(s3_endpoint)
        env = site_env(
            database=database,
            s3_endpoint=s3_endpoint,
            bucket=bucket,
            data_dir=data_dir,
            BIRDSITE_PREDICT_USER_RATE=options.predict_user_rate,
            **_optional_env(options),
        )
        echo(f"{name}: migrate, load species, promote the model")
        manage(env, "migrate", "--noinput", repo=repo)
        manage(env, "load_species", "--data", str(options.catalogue), "--photos", "0", repo=repo)
        manage(env, "promote_model", str(options.model_dir), "--by", "bench_serve", repo=repo)
        engine, passed = REFERENCE, [REFERENCE]
        if repo == REPO:
            engine, passed = _checked_engines(options, env=env, data_dir=data_dir, echo=echo)
        token = create_api_user(env, "bench", repo=repo)
        log = data_dir / "gunicorn.log"
        master, base = stack.enter_context(
            gunicorn(env, log=log, workers=options.workers, threads=options.threads, repo=repo)
        )
        memory = stack.enter_context(PeakMemory(master.pid))
        echo(f"{name}: gunicorn {base} (log {log})")
        yield SiteServer(
            Server(name, base, token, master, log, memory, database, bucket), engine, passed
        )


@contextmanager
def _bare_server(options: BenchSettings, engine: Engine, data_dir: Path) -> Iterator[Server]:
    """`benchmarks.bare_app` under gunicorn with the site's config, model and engine."""
    data_dir.mkdir()
    env = {
        **os.environ,
        **_optional_env(options),
        bare_app.MODEL_ENV: str(options.model_dir),
        bare_app.ENGINE_ENV: engine.key,
    }
    log = data_dir / "gunicorn.log"
    with ExitStack() as stack:
        master, base = stack.enter_context(
            gunicorn(
                env,
                log=log,
                workers=options.workers,
                threads=options.threads,
                app="benchmarks.bare_app:application",
            )
        )
        memory = stack.enter_context(PeakMemory(master.pid))
        yield Server("bare", base, "", master, log, memory)


def _warm_up(server: Server, photos: list[Photo], clients: int) -> None:
    """Every worker loads its model before anything is measured."""
    warm = run_phase(
        url=server.base_url + PREDICT[0],
        field_name=PREDICT[1],
        token=server.token,
        photos=photos,
        clients=clients,
        duration=3.0,
        expected_status=200,
    )
    if warm.errors:
        tail = server.log.read_text(errors="replace")[-3000:]
        raise RuntimeError(f"{server.name}: the warm-up failed: {warm.error_samples[:2]}\n{tail}")


def _measure(
    options: BenchSettings,
    servers: dict[str, Server],
    photos: dict[str, list[Photo]],
    echo: Callable[[str], None],
) -> dict[str, dict[str, PhaseResult]]:
    """Every phase on each of its servers, taking turns (A B A B) over the rounds, so that a
    machine that slows down or speeds up during the run weighs on all of them alike."""
    results: dict[str, dict[str, PhaseResult]] = {name: {} for name in servers}
    slice_s = options.duration_s / options.rounds
    for phase in phases(options.clients):
        present = [name for name in phase.servers if name in servers]
        echo(f"{phase.name}: {phase.clients} client(s), {' / '.join(present)}, {options.rounds}x")
        for _ in range(options.rounds):
            for name in present:
                server = servers[name]
                processes = [server.master.pid, *worker_pids(server.master.pid)]
                cpu_before = cpu_seconds(processes)
                result = run_phase(
                    url=server.base_url + phase.endpoint[0],
                    field_name=phase.endpoint[1],
                    token=server.token,
                    photos=photos[phase.photos],
                    clients=phase.clients,
                    duration=slice_s,
                    expected_status=phase.status,
                )
                result.cpu_seconds = cpu_seconds(processes) - cpu_before
                server.memory.sample()
                results[name].setdefault(phase.name, PhaseResult()).add(result)
    return results


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
    results: dict[str, dict[str, PhaseResult]],
    lost: dict[str, int],
    peaks: dict[str, float],
    engine: Engine,
    model_ms: dict[str, dict[str, float]],
) -> dict:
    figures: dict = {"runtime": engine.key}
    for key, per_photo in model_ms.items():
        figures[f"model_ms.{key}"] = per_photo["field"]
    figures["single_client.model_ms"] = model_ms[engine.key]["224"]
    figures["stack.model_ms"] = model_ms[engine.key]["field"]
    for name, phase_results in results.items():
        prefix = "" if name == "site" else f"{name}."
        for phase, result in phase_results.items():
            # The comparison phase of the other servers: bare.requests_per_s, baseline.…
            label = name if name != "site" and phase == "stack" else f"{prefix}{phase}"
            figures.update({f"{label}.{key}": value for key, value in result.summary().items()})
    figures["create.lost"] = lost["site"]
    figures["create.created"] = len(results["site"]["create"].created_ids)
    figures["errors"] = sum(r.errors for r in results["site"].values()) + sum(lost.values())
    figures["worker_peak_rss_mb"] = peaks["site"]
    figures["bare.worker_peak_rss_mb"] = peaks["bare"]
    if "baseline" in results:
        figures["baseline.create.lost"] = lost["baseline"]
        figures["baseline.errors"] = sum(r.errors for r in results["baseline"].values())
        figures["baseline.worker_peak_rss_mb"] = peaks["baseline"]
        figures["baseline.revision"] = options.baseline
    figures["stack_vs_bare"] = round(
        figures["stack.requests_per_s"] / figures["bare.requests_per_s"], 3
    )
    figures["error_samples"] = {
        f"{name}.{phase}": result.error_samples
        for name, phase_results in results.items()
        for phase, result in phase_results.items()
        if result.error_samples
    }
    figures["settings"] = {
        **{k: str(v) for k, v in asdict(options).items() if isinstance(v, Path)},
        "workers": options.workers,
        "threads": _gunicorn_threads(options),
        "clients": options.clients,
        "duration_s": options.duration_s,
        "rounds": options.rounds,
        "predict_user_rate": options.predict_user_rate,
        "model_version": options.model_version,
        "model_threads": options.model_threads or "gunicorn config (cores / workers)",
        "redis": bool(options.redis_url),
        "cpus": os.cpu_count(),
        "cpu": cpu_key(),
    }
    return figures


def targets(figures: dict) -> dict[str, dict]:
    """#18's targets against this run's figures: value, target and whether it is met."""

    def row(value: float | None, target: str, met: bool | None) -> dict:
        return {"value": value, "target": target, "met": met}

    fastest = min(v for k, v in figures.items() if k.startswith("model_ms."))
    chosen = figures[f"model_ms.{figures['runtime']}"]
    table = {
        "chosen_vs_fastest_model": row(
            round(chosen / fastest, 3), "<= 1.1", chosen <= 1.1 * fastest
        ),
        "stack_vs_bare": row(figures["stack_vs_bare"], ">= 0.5", figures["stack_vs_bare"] >= 0.5),
    }
    baseline = figures.get("baseline.requests_per_s")
    if baseline:
        ratio = round(figures["stack.requests_per_s"] / baseline, 3)
        table["stack_vs_baseline"] = row(ratio, ">= 1.4", ratio >= 1.4)
    single, model = figures["single_client.p50_ms"], figures["single_client.model_ms"]
    table["single_client_overhead_ms"] = row(round(single - model, 1), "<= 5", single - model <= 5)
    phone = round(figures["predict_phone.p50_ms"] / single, 2)
    table["phone_vs_224_p50"] = row(phone, "<= 2", phone <= 2)
    errors = figures["errors"] + figures["create.lost"]
    table["errors_and_lost"] = row(errors, "0", errors == 0)
    if "baseline.worker_peak_rss_mb" in figures:
        extra = round(figures["worker_peak_rss_mb"] - figures["baseline.worker_peak_rss_mb"], 1)
        table["rss_over_baseline_mb"] = row(extra, "<= 60", extra <= 60)
    return table


def _checked_engines(
    options: BenchSettings, *, env: dict[str, str], data_dir: Path, echo: Callable[[str], None]
) -> tuple[Engine, list[Engine]]:
    """The engine the workers will serve on, and every engine that passed the check here.

    The runtime check runs first, into the stack's own data dir, so that workers on `auto`
    choose from their first request on instead of checking while they are measured."""
    store = AgreementStore(data_dir / "runtime-checks")
    echo("checking the runtimes (python -m ml check_runtimes)")
    command = [sys.executable, "-m", "ml", "check_runtimes", "-v", "0"]
    command += ["--model", str(options.model_dir), "--store", str(store.root)]
    subprocess.run(command, env=env, check=True, stdout=subprocess.DEVNULL)
    choice = choose_engine(
        store=store, model_version=options.model_version, requested=options.runtime
    )
    echo(f"workers serve on {choice.engine.key}: {choice.reason}")
    return choice.engine, passed_engines(store=store, model_version=options.model_version)
