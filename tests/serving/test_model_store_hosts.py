"""Two web hosts on the S3 model store: two real gunicorns with their own data dirs (no shared
disk), one PostgreSQL database, one S3 endpoint (moto over HTTP), and a small predict-only load
on both throughout, none of whose requests may fail.

The hosts reach the model bucket through a TCP proxy the test cuts to stop S3 for them; the
promotions run with the bucket's own address, so "the upload succeeded, then S3 stopped before
the workers fetched" happens in that order every time. Photos go straight to moto (the storage
check of `/readyz` stays green: only the model store is down).
"""

from __future__ import annotations

import json
import shutil
import threading
import time
from collections import Counter
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlparse

import pytest
import requests

from benchmarks.stack import (
    create_api_user,
    create_bucket,
    create_species,
    gunicorn,
    manage,
    moto_server,
    s3_client,
    site_env,
    temporary_database,
)
from ml.model_dir import MODEL_FILE, ModelDir
from tests.support.serving_stack import admin_database

from .tcp_proxy import TcpProxy

pytestmark = pytest.mark.slow

# A promotion reaches every worker within one recheck (classifier.active_model.RECHECK_SECONDS,
# 5 s) plus the fetch and the load; the test allows that with room for a loaded machine.
SWITCH_WITHIN_S = 20
LOAD_PAUSE_S = 0.25


@dataclass
class Host:
    name: str
    base_url: str
    data_dir: Path
    log: Path

    def readyz_model(self) -> dict:
        response = requests.get(f"{self.base_url}/readyz", timeout=10)
        assert response.status_code == 200, response.text
        return response.json()["checks"]["model"]


@dataclass
class Load:
    """Predict requests to every host in turn until stopped; what each answered."""

    hosts: list[Host]
    photo: bytes
    token: str
    statuses: Counter = field(default_factory=Counter)
    failures: list[str] = field(default_factory=list)
    served: dict[str, str] = field(default_factory=dict)  # host name -> last version served
    _stop: threading.Event = field(default_factory=threading.Event)

    def run(self) -> None:
        session = requests.Session()
        session.headers["Authorization"] = f"Token {self.token}"
        while not self._stop.is_set():
            for host in self.hosts:
                try:
                    response = predict(host, self.photo, session=session)
                except requests.RequestException as error:
                    self.failures.append(f"{host.name}: {error!r}")
                    continue
                self.statuses[response.status_code] += 1
                if response.status_code != 200:
                    self.failures.append(f"{host.name}: {response.status_code} {response.text}")
                else:
                    self.served[host.name] = response.json()["model"]["version"]
            time.sleep(LOAD_PAUSE_S)

    @contextmanager
    def running(self) -> Iterator[Load]:
        thread = threading.Thread(target=self.run, daemon=True)
        thread.start()
        try:
            yield self
        finally:
            self._stop.set()
            thread.join(timeout=60)


def predict(host: Host, photo: bytes, *, session: requests.Session) -> requests.Response:
    return session.post(
        f"{host.base_url}/api/v1/predict/",
        files={"image": ("bird.jpg", photo, "image/jpeg")},
        timeout=60,
    )


def renamed_copy(model_dir: Path, root: Path, version: str) -> Path:
    """The same model under another version (what a retrained model looks like to the store)."""
    copy = root / version
    shutil.copytree(model_dir, copy)
    meta = json.loads((copy / "version.json").read_text())
    (copy / "version.json").write_text(json.dumps({**meta, "version": version}))
    return copy


def wait_until_served(hosts: list[Host], load: Load, version: str) -> float:
    """Seconds until every host answers predictions with `version` and calls it not stale."""
    started = time.monotonic()
    while time.monotonic() - started < SWITCH_WITHIN_S:
        if all(load.served.get(h.name) == version for h in hosts) and all(
            (m := h.readyz_model())["version"] == version and not m["stale"] for h in hosts
        ):
            return time.monotonic() - started
        time.sleep(0.2)
    states = {h.name: h.readyz_model() for h in hosts}
    raise AssertionError(f"{version} not served everywhere after {SWITCH_WITHIN_S} s: {states}")


def wait_until_stale(hosts: list[Host], *, serving: str, active: str) -> dict[str, dict]:
    """Every host's model entry once each says it serves `serving` while `active` is active."""
    deadline = time.monotonic() + SWITCH_WITHIN_S
    while True:
        states = {h.name: h.readyz_model() for h in hosts}
        if all(s["stale"] and s["active"] == active for s in states.values()):
            break
        assert time.monotonic() < deadline, states
        time.sleep(0.2)
    for state in states.values():
        assert state == {
            "ok": True,
            "detail": f"ok: {serving}",
            "version": serving,
            "stale": True,
            "active": active,
        }
    return states


def wait_for_log(host: Host, words: str) -> None:
    deadline = time.monotonic() + SWITCH_WITHIN_S
    while words not in host.log.read_text():
        assert time.monotonic() < deadline, f"{host.name} never logged {words!r}"
        time.sleep(0.2)


def test_two_hosts_follow_promotions_rollbacks_and_outages_of_the_store(
    tmp_path, small_model_dir, bird_photo
):
    trained = tmp_path / "trained"
    versions = [renamed_copy(small_model_dir, trained, f"host-test-{n}") for n in (1, 2, 3, 4)]
    first, second, third, fourth = (ModelDir.open(path=v).version for v in versions)
    with ExitStack() as stack:
        _, endpoint = stack.enter_context(moto_server())
        bucket = create_bucket(endpoint)
        proxy = stack.enter_context(TcpProxy(urlparse(endpoint).port))
        database = stack.enter_context(temporary_database(admin_database()))
        common = {
            "BIRDSITE_MODEL_STORE": "s3",
            "BIRDSITE_RUNTIME": "litert",  # no engine check processes: the load is the test
            "BIRDSITE_PREDICT_USER_RATE": "100000/min",
        }

        def env_of(data_dir: Path, **extra: str) -> dict[str, str]:
            return site_env(
                database=database, s3_endpoint=endpoint, bucket=bucket, data_dir=data_dir,
                **common, **extra,
            )  # fmt: skip

        # The operator's machine: the bucket's own address (up while the hosts' proxy is cut).
        operator = env_of(tmp_path / "operator")
        manage(operator, "migrate", "--noinput")
        create_species(operator, ModelDir.open(path=versions[0]).species)
        token = create_api_user(operator, "loader")

        def start_host(processes: ExitStack, name: str) -> Host:
            """A web host: its own data dir, the model bucket through the proxy."""
            data_dir = tmp_path / f"host-{name}"
            env = env_of(data_dir, BIRDSITE_MODEL_S3_ENDPOINT_URL=f"http://127.0.0.1:{proxy.port}")
            log = tmp_path / f"gunicorn-{name}.log"
            _, base_url = processes.enter_context(gunicorn(env, log=log, workers=1))
            return Host(name, base_url, data_dir, log)

        hosts = [start_host(stack, name) for name in ("a", "b")]

        api = requests.Session()
        api.headers["Authorization"] = f"Token {token}"
        # No promotion yet: no model, as with an empty local models dir.
        response = predict(hosts[0], bird_photo.read_bytes(), session=api)
        assert response.status_code == 503, response.text
        manage(operator, "promote_model", str(versions[0]))

        load = Load(hosts, bird_photo.read_bytes(), token)
        timings = {}
        with load.running():
            timings["first"] = wait_until_served(hosts, load, first)
            manage(operator, "promote_model", str(versions[1]))
            timings["promote"] = wait_until_served(hosts, load, second)
            manage(operator, "rollback_model")
            timings["rollback"] = wait_until_served(hosts, load, first)

            # S3 stops for the hosts right after the upload (made with the bucket's address).
            proxy.cut()
            manage(operator, "promote_model", str(versions[2]))
            wait_until_stale(hosts, serving=first, active=third)
            time.sleep(2)  # a few more rechecks fail while predictions go on
            proxy.restore()
            timings["outage"] = wait_until_served(hosts, load, third)

            # A new host that starts while S3 is down has no model: 503, until it can fetch.
            proxy.cut()
            newcomer = start_host(stack, "c")
            response = predict(newcomer, bird_photo.read_bytes(), session=api)
            assert response.status_code == 503, response.text
            assert response.json()["code"] == "classifier_unavailable"
            assert requests.get(f"{newcomer.base_url}/readyz", timeout=10).status_code == 503
            proxy.restore()
            late = Load([newcomer], bird_photo.read_bytes(), token)
            with late.running():
                timings["newcomer"] = wait_until_served([newcomer], late, third)

            # A file changed in the bucket after its upload: refused, the hosts keep theirs.
            proxy.cut()
            manage(operator, "promote_model", str(versions[3]))
            s3_client(endpoint).put_object(
                Bucket=bucket, Key=f"models/{fourth}/{MODEL_FILE}", Body=b"tampered"
            )
            proxy.restore()
            for host in hosts:
                wait_for_log(host, "do not match its manifest")
            wait_until_stale(hosts, serving=third, active=fourth)
            assert all(load.served[h.name] == third for h in hosts)

        assert load.failures == [], load.failures[:5]
        assert load.statuses[200] >= 20, load.statuses
        print(f"switch times (s): {timings}; predictions: {dict(load.statuses)}")
        for host in hosts:
            log = host.log.read_text()
            assert "cannot be served yet" in log  # the log says why it is stale
            # Each host holds the versions it served, whole; no staging folder, no copy of the
            # refused one.
            assert sorted(p.name for p in (host.data_dir / "models").iterdir()) == sorted(
                [first, second, third]
            )
