"""Serving benchmark on the real stack: gunicorn (the project's config) + PostgreSQL + S3.

`manage.py bench_serve` calls `run`. The process helpers (moto server, throwaway database,
gunicorn, worker memory) are also what the serving tests start their stacks with.
Everything listens on 127.0.0.1 only, and everything started here is stopped here.
"""

from __future__ import annotations

import http.client
import io
import json
import os
import runpy
import secrets
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.parse
import uuid
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import asdict, dataclass, field
from pathlib import Path

import boto3
import numpy as np
import psycopg
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test.client import BOUNDARY, MULTIPART_CONTENT, encode_multipart
from PIL import Image
from psycopg import sql

REPO = Path(__file__).resolve().parent.parent
GUNICORN_CONFIG = REPO / "deploy" / "gunicorn.conf.py"
BIN = Path(sys.executable).parent
S3_CREDENTIALS = {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing"}
# (path, file field) of the two API endpoints under load.
PREDICT = ("/api/v1/predict/", "image")
CREATE = ("/api/v1/sightings/", "photo")
PHONE_SIZE = (4000, 3000)


# --- processes ---------------------------------------------------------------------------------
def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_for_port(
    port: int, process: subprocess.Popen | None = None, timeout: float = 30.0
) -> None:
    """Wait until something listens on `port`; fail early if `process` died instead."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process is not None and process.poll() is not None:
            raise RuntimeError(f"{process.args[0]} exited with {process.returncode}")
        with socket.socket() as sock:
            if sock.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.1)
    raise RuntimeError(f"nothing listens on 127.0.0.1:{port} after {timeout} s")


def stop(process: subprocess.Popen, timeout: float = 20.0) -> None:
    """SIGTERM (gunicorn stops its workers gracefully), SIGKILL if it does not go."""
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


@contextmanager
def moto_server(port: int | None = None) -> Iterator[tuple[subprocess.Popen, str]]:
    """A moto S3 server of our own: (process, endpoint URL). Tests kill it to cut storage."""
    port = port or free_port()
    process = subprocess.Popen(
        [str(BIN / "moto_server"), "-H", "127.0.0.1", "-p", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        wait_for_port(port, process)
        yield process, f"http://127.0.0.1:{port}"
    finally:
        stop(process)


def create_bucket(endpoint: str, bucket: str | None = None) -> str:
    bucket = bucket or f"bench-{uuid.uuid4().hex[:12]}"
    s3_client(endpoint).create_bucket(Bucket=bucket)
    return bucket


def s3_client(endpoint: str):
    return boto3.client(
        "s3",
        endpoint_url=endpoint,
        region_name="us-east-1",
        aws_access_key_id=S3_CREDENTIALS["AWS_ACCESS_KEY_ID"],
        aws_secret_access_key=S3_CREDENTIALS["AWS_SECRET_ACCESS_KEY"],
    )


def bucket_keys(endpoint: str, bucket: str) -> set[str]:
    pages = s3_client(endpoint).get_paginator("list_objects_v2").paginate(Bucket=bucket)
    return {item["Key"] for page in pages for item in page.get("Contents", [])}


@contextmanager
def temporary_database(admin_url: str) -> Iterator[str]:
    """A fresh PostgreSQL database (URL), dropped at the end whatever happened."""
    name = f"birdsite_bench_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(admin_url, autocommit=True) as conn:
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    try:
        yield str(psycopg.conninfo.make_conninfo(admin_url, dbname=name))
    finally:
        with psycopg.connect(admin_url, autocommit=True) as conn:
            conn.execute(
                sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
            )


def database_url(conninfo: str) -> str:
    """A `postgres://` URL (what DATABASE_URL wants) for a libpq conninfo string."""
    params = psycopg.conninfo.conninfo_to_dict(conninfo)
    auth = params.get("user", "postgres") + (
        f":{params['password']}" if "password" in params else ""
    )
    host, port = params.get("host", "127.0.0.1"), params.get("port", 5432)
    return f"postgres://{auth}@{host}:{port}/{params['dbname']}"


def site_env(
    *, database: str, s3_endpoint: str, bucket: str, data_dir: Path, **extra: str
) -> dict[str, str]:
    """The environment of a production-like site process (HTTP on 127.0.0.1, no debug)."""
    return {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "birdsite.settings",
        "DJANGO_DEBUG": "0",
        "DJANGO_SECRET_KEY": secrets.token_urlsafe(48),
        "DJANGO_SECURE_SSL_REDIRECT": "0",
        "DJANGO_SESSION_COOKIE_SECURE": "0",
        "DJANGO_CSRF_COOKIE_SECURE": "0",
        "DJANGO_ALLOWED_HOSTS": "127.0.0.1",
        # No collectstatic for a throwaway stack: static files are found in the app folders.
        "DJANGO_STATICFILES_STORAGE": "django.contrib.staticfiles.storage.StaticFilesStorage",
        "DATABASE_URL": database_url(database),
        "AWS_STORAGE_BUCKET_NAME": bucket,
        "AWS_S3_ENDPOINT_URL": s3_endpoint,
        "AWS_S3_REGION_NAME": "us-east-1",
        **S3_CREDENTIALS,
        "BIRDSITE_DATA_DIR": str(data_dir),
        **extra,
    }


def activate_model(data_dir: Path, model_dir: Path) -> None:
    """Make `model_dir` the active model of a data dir (the `models/active` link)."""
    (data_dir / "models").mkdir(parents=True, exist_ok=True)
    (data_dir / "models" / "active").symlink_to(Path(model_dir).resolve())


def manage(env: dict[str, str], *args: str) -> str:
    """Run a management command in a site environment; its stdout."""
    done = subprocess.run(
        [sys.executable, str(REPO / "manage.py"), *args],
        env=env,
        cwd=REPO,
        capture_output=True,
        text=True,
        check=False,
    )
    if done.returncode != 0:
        raise RuntimeError(f"manage.py {' '.join(args)} failed:\n{done.stderr[-3000:]}")
    return done.stdout


def create_api_user(env: dict[str, str], username: str, password: str | None = None) -> str:
    """A user with a DRF token in the site's database; returns the token."""
    code = (
        "from accounts.models import User\n"
        "from rest_framework.authtoken.models import Token\n"
        f"user = User.objects.create_user({username!r}, password={password!r})\n"
        "print(Token.objects.create(user=user).key)\n"
    )
    return manage(env, "shell", "-c", code).strip().splitlines()[-1]


@contextmanager
def gunicorn(
    env: dict[str, str],
    *,
    log: Path,
    workers: int | None = None,
    threads: int | None = None,
    config: Path = GUNICORN_CONFIG,
) -> Iterator[tuple[subprocess.Popen, str]]:
    """The real gunicorn with the project's config on a free port: (master, base URL)."""
    port = free_port()
    command = [str(BIN / "gunicorn"), "-c", str(config), "--bind", f"127.0.0.1:{port}"]
    if workers is not None:
        command += ["--workers", str(workers)]
    if threads is not None:
        command += ["--threads", str(threads)]
    with log.open("ab") as output:
        process = subprocess.Popen(
            [*command, "birdsite.wsgi:application"],
            env=env,
            cwd=REPO,
            stdout=output,
            stderr=subprocess.STDOUT,
        )
    try:
        wait_for_port(port, process, timeout=60.0)
        yield process, f"http://127.0.0.1:{port}"
    finally:
        stop(process)


def worker_pids(master_pid: int) -> list[int]:
    """The gunicorn workers: the master's child processes."""
    children = Path(f"/proc/{master_pid}/task/{master_pid}/children")
    try:
        return [int(pid) for pid in children.read_text().split()]
    except FileNotFoundError:
        return []


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
    worker_peak_rss_mb: float = 0.0  # the highest worker VmHWM by the end of this phase
    error_samples: list[str] = field(default_factory=list)

    def summary(self) -> dict[str, float | int]:
        latencies = self.latencies_ms or [float("nan")]
        return {
            "p50_ms": round(percentile(latencies, 50), 1),
            "p95_ms": round(percentile(latencies, 95), 1),
            "p99_ms": round(percentile(latencies, 99), 1),
            "requests_per_s": round(len(self.latencies_ms) / self.seconds, 1),
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
    out: Path
    admin_database: str = "postgresql://postgres@127.0.0.1:5432/postgres"
    redis_url: str = ""
    workers: int = 2
    threads: int | None = None  # None: the gunicorn config's
    clients: int = 4
    duration_s: float = 20.0
    litert_threads: int | None = None  # None: the site's default
    predict_user_rate: str = "1000000/min"
    photo_count: int = 64
    phone_photo_count: int = 4


def run(options: BenchSettings, echo: Callable[[str], None] = print) -> dict:
    """Start the stack, run the three phases, check every created sighting; the JSON figures."""
    photos = small_photos(options.photos_dir, options.photo_count)
    phones = [phone_photo(p) for p in photos[: options.phone_photo_count]]
    with ExitStack() as stack:
        tmp = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="bench-serve-")))
        database = stack.enter_context(temporary_database(options.admin_database))
        _, endpoint = stack.enter_context(moto_server())
        bucket = create_bucket(endpoint)
        activate_model(tmp, options.model_dir)
        env = site_env(
            database=database,
            s3_endpoint=endpoint,
            bucket=bucket,
            data_dir=tmp,
            BIRDSITE_PREDICT_USER_RATE=options.predict_user_rate,
            **_optional_env(options),
        )
        manage(env, "migrate", "--noinput")
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
            for name, (path, field_name), bodies, status in (
                ("predict_224", PREDICT, photos, 200),
                ("predict_phone", PREDICT, phones, 200),
                ("create", CREATE, photos, 201),
            ):
                echo(f"{name}: {options.clients} clients for {options.duration_s} s")
                phases[name] = run_phase(
                    url=base + path,
                    field_name=field_name,
                    token=token,
                    photos=bodies,
                    clients=options.clients,
                    duration=options.duration_s,
                    expected_status=status,
                )
                memory.sample()
                phases[name].worker_peak_rss_mb = memory.peak()
        lost = lost_sightings(
            database=database, ids=phases["create"].created_ids, s3_endpoint=endpoint, bucket=bucket
        )
    return _figures(options, phases, lost, memory, _gunicorn_threads(options))


def _optional_env(options: BenchSettings) -> dict[str, str]:
    env = {}
    if options.litert_threads is not None:
        env["BIRDSITE_LITERT_THREADS"] = str(options.litert_threads)
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
        "litert_threads": options.litert_threads or _default_litert_threads(),
        "workers_seen": len(memory.peaks),
        "redis": bool(options.redis_url),
        "cpus": os.cpu_count(),
    }
    return figures


def _default_litert_threads() -> int:
    from ml.litert import default_threads

    return default_threads()


def model_version(model_dir: Path) -> str:
    return json.loads((Path(model_dir) / "version.json").read_text())["version"]
