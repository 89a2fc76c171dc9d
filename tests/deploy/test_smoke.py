"""Deployment smoke test without Docker: the image's command line, the compose release step and
the Nginx template, on this machine's PostgreSQL, Redis and S3 endpoint, with production settings
(compose's environment: DEBUG off, HTTPS only, behind a TLS-terminating proxy).

    client --HTTPS--> nginx (deploy/nginx.conf.template) --> gunicorn a (deploy/gunicorn.conf.py)
                                                         `-> gunicorn b
                                                 each -> PostgreSQL, Redis, S3 (photos, models)

The two gunicorns are two web hosts (or replicas): their own data dirs, nothing shared on disk;
the model is promoted to the S3 model store, as compose's environment says.
"""

from __future__ import annotations

import os
import re
import secrets
import subprocess
import sys
import uuid
from collections.abc import Iterator
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path

import pytest
import requests

from benchmarks.stack import (
    create_species,
    database_url,
    free_port,
    manage,
    temporary_database,
    wait_for_port,
)
from ml.model_dir import ModelDir
from tests.conftest import REPO, S3_CREDENTIALS, bucket_keys, which
from tests.deploy import files

pytestmark = pytest.mark.slow

VENV_BIN = Path(sys.executable).parent
# The servers of the run's DATABASE_URL / REDIS_URL (scripts/test), else the local defaults.
_database_url = os.environ.get("DATABASE_URL", "")
POSTGRES = (
    _database_url.rsplit("/", 1)[0] + "/postgres"
    if _database_url.startswith("postgres")
    else "postgres://postgres@127.0.0.1:5432/postgres"
)
REDIS_URL = os.environ.get("REDIS_URL") or "redis://127.0.0.1:6379/1"
HOST = "127.0.0.1"


@dataclass
class Deployment:
    http: str  # http://host:port of nginx
    https: str  # https://host:port of nginx
    ca: Path  # the self-signed certificate, to verify nginx's TLS
    env: dict[str, str]  # the app's environment (of web host a)
    bucket: str
    logs: list[Path]  # each gunicorn's output
    version: str  # the model promoted

    def session(self) -> requests.Session:
        session = requests.Session()
        session.trust_env = False  # no proxy or CA bundle from the environment: this CA only
        session.verify = str(self.ca)
        return session


@pytest.fixture(scope="module")
def database() -> Iterator[str]:
    """A fresh PostgreSQL database for this module, dropped afterwards."""
    with temporary_database(POSTGRES) as conninfo:
        yield database_url(conninfo)


def start(stack: ExitStack, command: list[str], *, env: dict[str, str], log: Path) -> None:
    """Start a server process that the stack stops (and waits for) on exit."""
    process = subprocess.Popen(
        command, cwd=REPO, env=env, stdout=log.open("w"), stderr=subprocess.STDOUT
    )

    def stop() -> None:
        process.terminate()
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()

    stack.callback(stop)


@pytest.fixture(scope="module")
def deployment(
    tmp_path_factory,
    database: str,
    s3_endpoint: str,
    s3_client,
    small_model_dir: Path,
) -> Iterator[Deployment]:
    root = tmp_path_factory.mktemp("deploy")
    logs = root / "logs"  # gunicorn's and nginx's output, to read when something fails
    logs.mkdir()
    bucket = f"deploy-{uuid.uuid4().hex[:12]}"
    s3_client.create_bucket(Bucket=bucket)
    gunicorn_ports, http_port, https_port = [free_port(), free_port()], free_port(), free_port()
    https = f"https://{HOST}:{https_port}"

    # Compose's web environment with this machine's addresses instead of the containers'.
    compose_env = files.compose_config()["services"]["web"]["environment"]
    env = {
        **{name: str(value) for name, value in compose_env.items()},
        "PATH": f"{VENV_BIN}:{os.environ['PATH']}",
        "HOME": str(root),
        "DJANGO_SETTINGS_MODULE": "birdsite.settings",
        "DJANGO_SECRET_KEY": secrets.token_urlsafe(50),
        "DJANGO_ALLOWED_HOSTS": HOST,
        "DJANGO_CSRF_TRUSTED_ORIGINS": https,
        "DJANGO_STATIC_ROOT": str(root / "static"),
        "DATABASE_URL": database,
        "REDIS_URL": REDIS_URL,
        "AWS_STORAGE_BUCKET_NAME": bucket,
        "AWS_S3_ENDPOINT_URL": s3_endpoint,
        "AWS_S3_REGION_NAME": "us-east-1",
        "AWS_ACCESS_KEY_ID": S3_CREDENTIALS["aws_access_key_id"],
        "AWS_SECRET_ACCESS_KEY": S3_CREDENTIALS["aws_secret_access_key"],
    }
    assert env["DJANGO_SECURE_PROXY_SSL_HEADER"] == "1"
    assert env["BIRDSITE_MODEL_STORE"] == "s3"

    # The compose `migrate` service: migrations and static files into the folder Nginx serves.
    release = files.compose_source()["services"]["migrate"]["command"]
    result = subprocess.run(release, cwd=REPO, env=env, capture_output=True, text=True, check=False)
    assert result.returncode == 0, result.stdout + result.stderr

    # The trainer's step: the model's species, then the promotion (uploaded to the bucket).
    operator = {**env, "BIRDSITE_DATA_DIR": str(root / "operator")}
    create_species(operator, ModelDir.open(path=small_model_dir).species)
    manage(operator, "promote_model", str(small_model_dir))

    hosts = [
        {**env, "BIRDSITE_DATA_DIR": str(root / f"host-{n}"), "GUNICORN_BIND": f"{HOST}:{port}"}
        for n, port in enumerate(gunicorn_ports)
    ]
    with ExitStack() as stack:
        for n, host in enumerate(hosts):
            start(stack, files.image_command("web"), env=host, log=logs / f"gunicorn-{n}.log")
        for port in gunicorn_ports:
            wait_for_port(port, timeout=60)
        conf = files.local_nginx(
            root / "nginx",
            http_port=http_port,
            https_port=https_port,
            upstreams=[f"{HOST}:{port}" for port in gunicorn_ports],
            s3_upstream=s3_endpoint.removeprefix("http://"),
            static_root=root / "static",
        )
        nginx = [which("nginx"), "-p", str(root / "nginx"), "-c", str(conf), "-g", "daemon off;"]
        start(stack, nginx, env=env, log=logs / "nginx.log")
        wait_for_port(https_port)
        yield Deployment(
            http=f"http://{HOST}:{http_port}",
            https=https,
            ca=root / "nginx" / "tls" / "fullchain.pem",
            env=hosts[0],
            bucket=bucket,
            logs=[logs / f"gunicorn-{n}.log" for n in range(len(hosts))],
            version=ModelDir.open(path=small_model_dir).version,
        )


def test_image_healthcheck_passes(deployment: Deployment) -> None:
    (healthcheck,) = [i for i in files.dockerfile() if i.keyword == "HEALTHCHECK"]
    result = subprocess.run(
        healthcheck.exec_form(), cwd=REPO, env=deployment.env, capture_output=True, text=True
    )
    assert result.returncode == 0, result.stderr


def test_http_redirects_to_https_but_answers_health_probes(deployment: Deployment) -> None:
    session = deployment.session()
    response = session.get(f"{deployment.http}/accounts/signup/?next=/", allow_redirects=False)
    assert response.status_code == 301
    assert response.headers["Location"] == f"{deployment.https}/accounts/signup/?next=/"
    response = session.get(f"{deployment.http}/healthz", allow_redirects=False)
    assert response.status_code == 200, response.text
    assert response.json() == {"status": "ok"}


def test_nginx_serves_hashed_static_files_for_a_year(deployment: Deployment) -> None:
    session = deployment.session()
    page = session.get(f"{deployment.https}/accounts/login/")
    assert page.status_code == 200
    assert page.headers["Strict-Transport-Security"].startswith("max-age=")
    (stylesheet,) = re.findall(r'href="(/static/css/site\.[0-9a-f]{12}\.css)"', page.text)
    response = session.get(deployment.https + stylesheet)
    assert response.status_code == 200
    assert response.headers["Content-Type"] == "text/css"
    assert response.headers["Content-Encoding"] == "gzip"  # collectstatic's .gz (gzip_static)
    # Nginx's headers (whitenoise would say max-age=315360000 and add Django's security headers).
    cache_control = response.headers["Cache-Control"]  # expires 1y + add_header, joined
    assert "max-age=31536000" in cache_control and "immutable" in cache_control
    assert "Referrer-Policy" not in response.headers


def test_sign_up_identify_and_keep_a_sighting(
    deployment: Deployment, bird_photo: Path, s3_client
) -> None:
    session = deployment.session()
    signup = f"{deployment.https}/accounts/signup/"
    form = session.get(signup)
    assert form.status_code == 200
    (token,) = re.findall(r'name="csrfmiddlewaretoken" value="([^"]+)"', form.text)
    password = secrets.token_urlsafe(16)
    response = session.post(
        signup,
        data={
            "csrfmiddlewaretoken": token,
            "username": "deploy-smoke",
            "email": "deploy-smoke@example.org",
            "password1": password,
            "password2": password,
        },
        headers={"Referer": signup},  # HTTPS CSRF checks want a same-origin Referer
        allow_redirects=False,
    )
    assert response.status_code == 302, response.text
    assert "sessionid" in session.cookies

    photo = bird_photo.read_bytes()
    response = session.post(
        f"{deployment.https}/api/v1/predict/",
        files={"image": (bird_photo.name, photo, "image/jpeg")},
        headers={"Referer": signup, "X-CSRFToken": session.cookies["csrftoken"]},
    )
    assert response.status_code == 200, response.text
    prediction = response.json()
    assert prediction["verdict"] in {"bird", "uncertain", "no_bird"}
    assert prediction["predictions"]

    response = session.post(
        f"{deployment.https}/api/v1/sightings/",
        files={"photo": (bird_photo.name, photo, "image/jpeg")},
        headers={"Referer": signup, "X-CSRFToken": session.cookies["csrftoken"]},
    )
    assert response.status_code == 201, response.text
    assert bucket_keys(s3_client, deployment.bucket)  # the photo went to S3


def test_readyz_is_ok_on_every_host_with_the_promoted_model(deployment: Deployment) -> None:
    session = deployment.session()
    for _ in range(4):  # round robin: each host answers twice
        response = session.get(f"{deployment.https}/readyz")
        assert response.status_code == 200, response.text
        assert response.json()["status"] == "ok"
        model = response.json()["checks"]["model"]
        assert (model["version"], model["stale"]) == (deployment.version, False)
    for log in deployment.logs:  # each host fetched the model from the bucket and answered
        text = log.read_text()
        assert f"fetched model {deployment.version}" in text
        assert '"path": "/readyz"' in text
