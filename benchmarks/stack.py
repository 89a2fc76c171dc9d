"""A production-like stack on this machine: a moto S3 server, a throwaway PostgreSQL database and
the real gunicorn with the project's config, in the production settings (DEBUG off).

The serving benchmark (`benchmarks.serve`) and the serving and deployment tests start their
stacks with these helpers. Everything listens on 127.0.0.1 only, and every context manager
stops what it started.
"""

from __future__ import annotations

import os
import secrets
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import boto3
import psycopg
from botocore.client import BaseClient
from psycopg import sql

REPO = Path(__file__).resolve().parent.parent
GUNICORN_CONFIG = REPO / "deploy" / "gunicorn.conf.py"
BIN = Path(sys.executable).parent
S3_CREDENTIALS = {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing"}


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


def s3_client(endpoint: str) -> BaseClient:
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


def manage(env: dict[str, str], *args: str, repo: Path = REPO) -> str:
    """Run a management command in a site environment (of the checkout `repo`); its stdout."""
    done = subprocess.run(
        [sys.executable, str(repo / "manage.py"), *args],
        env={**env, "PYTHONPATH": str(repo)},
        cwd=repo,
        capture_output=True,
        text=True,
        check=False,
    )
    if done.returncode != 0:
        raise RuntimeError(f"manage.py {' '.join(args)} failed:\n{done.stderr[-3000:]}")
    return done.stdout


def create_api_user(
    env: dict[str, str], username: str, password: str | None = None, *, repo: Path = REPO
) -> str:
    """A user with a DRF token in the site's database; returns the token."""
    code = (
        "from accounts.models import User\n"
        "from rest_framework.authtoken.models import Token\n"
        f"user = User.objects.create_user({username!r}, password={password!r})\n"
        "print(Token.objects.create(user=user).key)\n"
    )
    return manage(env, "shell", "-c", code, repo=repo).strip().splitlines()[-1]


def create_species(env: dict[str, str], names: list[str], *, repo: Path = REPO) -> None:
    """Species rows for `names` in the site's database (a model is promoted only when the site
    knows all its species)."""
    code = (
        "from django.utils.text import slugify\n"
        "from classifier.models import Species\n"
        f"for name in {names!r}:\n"
        "    Species.objects.get_or_create(name=name, defaults={'slug': slugify(name)})\n"
    )
    manage(env, "shell", "-c", code, repo=repo)


@contextmanager
def gunicorn(
    env: dict[str, str],
    *,
    log: Path,
    workers: int | None = None,
    threads: int | None = None,
    config: Path = GUNICORN_CONFIG,
    repo: Path = REPO,
    app: str = "birdsite.wsgi:application",
) -> Iterator[tuple[subprocess.Popen, str]]:
    """The real gunicorn with the project's config on a free port: (master, base URL).

    `repo` is the checkout it serves from (the bench's baseline is another worktree);
    `config` is read from there unless given as an absolute path elsewhere."""
    port = free_port()
    if repo != REPO and config == GUNICORN_CONFIG:
        config = repo / GUNICORN_CONFIG.relative_to(REPO)
    command = [str(BIN / "gunicorn"), "-c", str(config), "--bind", f"127.0.0.1:{port}"]
    if workers is not None:
        command += ["--workers", str(workers)]
    if threads is not None:
        command += ["--threads", str(threads)]
    with log.open("ab") as output:
        process = subprocess.Popen(
            [*command, app],
            env={**env, "PYTHONPATH": str(repo)},
            cwd=repo,
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
