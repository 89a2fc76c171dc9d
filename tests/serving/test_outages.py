"""Outages of S3 and PostgreSQL under a real gunicorn: a clear 503, nothing half-saved, and the
site recovers by itself (no restart) once the service is back.

S3 is a moto server the test kills and starts again on the same port; PostgreSQL sits behind
a TCP proxy the test cuts and restores. The site's code is not patched.
"""

from __future__ import annotations

import time
from pathlib import Path
from urllib.parse import urlparse

import psycopg
import pytest
import requests

from benchmarks.stack import bucket_keys, create_bucket, moto_server, stop
from tests.support.serving_stack import Stack, admin_database, serving_stack, site_login

from .tcp_proxy import TcpProxy

pytestmark = pytest.mark.slow

SIGHTINGS = "/api/v1/sightings/"
# An outage answer must come quickly, not after the client has given up.
MAX_OUTAGE_ANSWER_S = 15


def create_sighting(stack: Stack, session: requests.Session, photo: Path) -> requests.Response:
    files = {"photo": (photo.name, photo.read_bytes(), "image/jpeg")}
    return session.post(stack.base_url + SIGHTINGS, files=files, timeout=60)


def identify_on_site(stack: Stack, session: requests.Session, photo: Path) -> requests.Response:
    """The site's identify form, as a browser posts it (the CSRF cookie comes from the log-in)."""
    home = stack.base_url + "/"
    return session.post(
        home,
        files={"photo": (photo.name, photo.read_bytes(), "image/jpeg")},
        headers={"X-CSRFToken": session.cookies["csrftoken"], "Referer": home},
        timeout=60,
        allow_redirects=False,
    )


def assert_api_outage(response: requests.Response, code: str) -> None:
    assert response.status_code == 503, response.text[:500]
    assert response.json()["code"] == code
    assert response.json()["detail"]


def assert_site_outage(response: requests.Response, words: str) -> None:
    assert response.status_code == 503, response.text[:500]
    assert response.headers["Content-Type"].startswith("text/html")
    assert words in response.text


def test_storage_outage(tmp_path, small_model_dir, bird_photo):
    with (
        moto_server() as (moto, endpoint),
        serving_stack(tmp_path, small_model_dir, s3_endpoint=endpoint) as stack,
    ):
        api, site = stack.api(), site_login(stack)
        assert create_sighting(stack, api, bird_photo).status_code == 201

        stop(moto)
        started = time.monotonic()
        assert_api_outage(create_sighting(stack, api, bird_photo), "storage_unavailable")
        assert time.monotonic() - started < MAX_OUTAGE_ANSWER_S
        assert_site_outage(identify_on_site(stack, site, bird_photo), "storage is unavailable")
        assert stack.count("classifier_sighting") == 1
        assert stack.count("classifier_pendingphoto") == 0

        with moto_server(urlparse(endpoint).port):
            create_bucket(endpoint, stack.bucket)  # a new moto server starts empty
            assert create_sighting(stack, api, bird_photo).status_code == 201
            assert identify_on_site(stack, site, bird_photo).status_code == 302
            assert stack.count("classifier_sighting") == 2
            assert stack.count("classifier_pendingphoto") == 1
            # The new server holds what was stored since it started: a sighting, a pending photo.
            assert len(bucket_keys(endpoint, stack.bucket)) == 2


def test_database_outage(tmp_path, small_model_dir, s3_endpoint, bird_photo):
    postgres_port = int(psycopg.conninfo.conninfo_to_dict(admin_database()).get("port", 5432))
    with (
        TcpProxy(postgres_port) as proxy,
        serving_stack(
            tmp_path, small_model_dir, s3_endpoint=s3_endpoint, database_port=proxy.port
        ) as stack,
    ):
        api, site = stack.api(), site_login(stack)
        sightings_page = stack.base_url + "/sightings/"
        assert api.get(stack.base_url + SIGHTINGS, timeout=10).status_code == 200
        assert site.get(sightings_page, timeout=10).status_code == 200

        proxy.cut()
        started = time.monotonic()
        assert_api_outage(api.get(stack.base_url + SIGHTINGS, timeout=30), "database_unavailable")
        assert time.monotonic() - started < MAX_OUTAGE_ANSWER_S
        assert_api_outage(create_sighting(stack, api, bird_photo), "database_unavailable")
        assert_site_outage(site.get(sightings_page, timeout=30), "database is unavailable")
        assert_site_outage(identify_on_site(stack, site, bird_photo), "database is unavailable")

        proxy.restore()
        for _ in range(4):  # every request, not just an eventual one: broken connections go
            assert api.get(stack.base_url + SIGHTINGS, timeout=10).status_code == 200
            assert site.get(sightings_page, timeout=10).status_code == 200
        assert create_sighting(stack, api, bird_photo).status_code == 201
        assert stack.count("classifier_sighting") == 1
        assert stack.count("classifier_pendingphoto") == 0
        assert len(bucket_keys(s3_endpoint, stack.bucket)) == 1


def test_database_sessions_ended_between_requests(tmp_path, small_model_dir, s3_endpoint):
    """PostgreSQL ending the workers' idle sessions (a restart, a failover, an idle timeout)
    costs no failed request: the next request sees the closed socket and connects afresh."""
    with serving_stack(tmp_path, small_model_dir, s3_endpoint=s3_endpoint) as stack:
        api, site = stack.api(), site_login(stack)
        sightings_page = stack.base_url + "/sightings/"
        database = psycopg.conninfo.conninfo_to_dict(stack.database)["dbname"]

        def every_request_answers() -> None:
            for _ in range(4):  # both workers, each with its persistent connection
                assert api.get(stack.base_url + SIGHTINGS, timeout=10).status_code == 200
                assert site.get(sightings_page, timeout=10).status_code == 200

        every_request_answers()
        for _ in range(3):
            with psycopg.connect(admin_database(), autocommit=True) as admin:
                ended = admin.execute(
                    "SELECT count(*) FILTER (WHERE pg_terminate_backend(pid))"
                    " FROM pg_stat_activity WHERE datname = %s AND pid <> pg_backend_pid()",
                    (database,),
                ).fetchone()[0]
            assert ended >= 1
            time.sleep(0.2)  # the server's FATAL message reaches the workers' sockets
            every_request_answers()
