"""The real serving stack of the slow serving tests: gunicorn + PostgreSQL + moto S3 + a model.

Built from `benchmarks.stack` (the serving benchmark runs the same stack). Every process and
the throwaway database are removed when the `with` block ends.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path

import psycopg
import requests
from psycopg import sql

from benchmarks.stack import (
    GUNICORN_CONFIG,
    create_api_user,
    create_bucket,
    gunicorn,
    manage,
    site_env,
    temporary_database,
)
from ml.registry import activate

USERNAME, PASSWORD = "serving", "a-long-serving-test-password-7"


def admin_database() -> str:
    """The PostgreSQL server of the run (DATABASE_URL's), database `postgres`."""
    url = os.environ.get("DATABASE_URL", "")
    if url.startswith(("postgres://", "postgresql://")):
        return psycopg.conninfo.make_conninfo(
            url.replace("postgres://", "postgresql://", 1), dbname="postgres"
        )
    return "postgresql://postgres@127.0.0.1:5432/postgres"


@dataclass(frozen=True)
class Stack:
    base_url: str
    token: str
    database: str  # straight to PostgreSQL, never through a test's proxy
    s3_endpoint: str
    bucket: str
    master_pid: int

    def api(self) -> requests.Session:
        session = requests.Session()
        session.headers["Authorization"] = f"Token {self.token}"
        return session

    def count(self, table: str) -> int:
        """Rows of a table, read straight from PostgreSQL."""
        query = sql.SQL("SELECT count(*) FROM {}").format(sql.Identifier(table))
        with psycopg.connect(self.database) as conn:
            return conn.execute(query).fetchone()[0]


@contextmanager
def serving_stack(
    tmp: Path,
    model_dir: Path,
    *,
    s3_endpoint: str,
    workers: int = 1,
    config: Path = GUNICORN_CONFIG,
    database_port: int | None = None,
    **env: str,
) -> Iterator[Stack]:
    """gunicorn (the project's config unless `config`) serving `model_dir` on a fresh database.

    `database_port` points the site at a proxy in front of PostgreSQL instead of PostgreSQL.
    """
    with ExitStack() as cleanup:
        database = cleanup.enter_context(temporary_database(admin_database()))
        bucket = create_bucket(s3_endpoint)
        activate(model_dir=model_dir, models_root=tmp / "models")  # the served model
        site_database = (
            psycopg.conninfo.make_conninfo(database, port=str(database_port))
            if database_port
            else database
        )
        site = site_env(
            database=site_database, s3_endpoint=s3_endpoint, bucket=bucket, data_dir=tmp, **env
        )
        manage(site, "migrate", "--noinput")
        token = create_api_user(site, USERNAME, PASSWORD)
        master, base_url = cleanup.enter_context(
            gunicorn(site, log=tmp / "gunicorn.log", workers=workers, config=config)
        )
        yield Stack(base_url, token, database, s3_endpoint, bucket, master.pid)


def site_login(stack: Stack) -> requests.Session:
    """A browser-like session logged in through the site's log-in form (CSRF included)."""
    session = requests.Session()
    login = f"{stack.base_url}/accounts/login/"
    session.get(login, timeout=10).raise_for_status()
    response = session.post(
        login,
        data={"username": USERNAME, "password": PASSWORD},
        headers={"X-CSRFToken": session.cookies["csrftoken"], "Referer": login},
        timeout=10,
        allow_redirects=False,
    )
    assert response.status_code == 302, response.text[:500]
    return session
