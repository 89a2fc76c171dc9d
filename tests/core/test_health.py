"""core.health: the load-balancer probes, and the readiness checks the apps register with it."""

from __future__ import annotations

import pytest
from django.db import connection

from classifier.apps import model_readiness
from core import health
from tests.site.conftest import no_active_model  # noqa: F401  (the site's fixture)

pytestmark = pytest.mark.django_db


@pytest.fixture
def checks(monkeypatch) -> dict[str, health.ReadinessCheck]:
    """The registry as the apps left it, for a test to add to; the apps' one comes back after."""
    registry = dict(health.CHECKS)
    monkeypatch.setattr(health, "CHECKS", registry)
    return registry


def queue_is_gone() -> str:
    raise RuntimeError("the queue at 10.0.0.7 is gone")


def test_healthz_needs_no_database(client, django_assert_num_queries):
    with django_assert_num_queries(0):
        response = client.get("/healthz")
    assert response.status_code == 200 and response.json() == {"status": "ok"}


def test_readyz_is_503_without_a_model(client, no_active_model):  # noqa: F811
    response = client.get("/readyz")
    assert response.status_code == 503
    body = response.json()
    assert body["status"] == "unavailable"
    assert body["checks"]["database"]["ok"] and body["checks"]["storage"]["ok"]
    assert body["checks"]["model"] == {"ok": False, "detail": "ClassifierUnavailable"}


def test_readyz_reports_an_unreachable_database(client, monkeypatch):
    def down(*args, **kwargs):
        from django.db import OperationalError

        raise OperationalError("connection refused")

    monkeypatch.setattr(connection, "cursor", down)
    body = client.get("/readyz").json()
    assert body["checks"]["database"] == {"ok": False, "detail": "OperationalError"}


def test_readyz_reports_unreachable_storage(client, s3_bucket, s3_client):
    s3_client.delete_bucket(Bucket=s3_bucket)
    response = client.get("/readyz")
    assert response.status_code == 503
    assert response.json()["checks"]["storage"]["ok"] is False


@pytest.mark.parametrize("path", ["/healthz", "/readyz"])
def test_probes_are_exempt_from_the_ssl_redirect(client, settings, path):
    settings.SECURE_SSL_REDIRECT = True
    assert client.get(path).status_code in (200, 503)
    assert client.get("/api/v1/species/").status_code == 301


def test_the_classifier_registers_its_model_check_when_it_loads():
    assert health.CHECKS["model"] is model_readiness


def test_a_registered_failing_check_makes_readyz_unavailable(client, checks):
    health.register_check(name="queue", check=queue_is_gone)
    response = client.get("/readyz")
    assert response.status_code == 503
    body = response.json()
    assert body["status"] == "unavailable"
    assert body["checks"]["queue"] == {"ok": False, "detail": "RuntimeError"}
    assert body["checks"]["database"] == {"ok": True, "detail": "ok"}
    assert "10.0.0.7" not in response.content.decode()  # the reason goes to the log only


def test_registered_checks_report_their_detail_in_name_order(client, checks):
    del checks["model"]  # no model in the fast tier: only the checks of this test decide
    health.register_check(name="queue", check=lambda: "ok: 3 waiting")
    health.register_check(name="cache", check=lambda: "ok")
    response = client.get("/readyz")
    assert response.status_code == 200
    body = response.json()
    assert body["status"] == "ok"
    assert list(body["checks"]) == ["cache", "database", "queue", "storage"]
    assert body["checks"]["queue"] == {"ok": True, "detail": "ok: 3 waiting"}


def test_a_check_may_answer_fields_of_its_own(client, checks):
    del checks["model"]
    health.register_check(name="queue", check=lambda: {"detail": "ok: 3", "stale": True})
    response = client.get("/readyz")
    assert response.status_code == 200
    assert response.json()["checks"]["queue"] == {"ok": True, "detail": "ok: 3", "stale": True}


def test_a_check_name_belongs_to_one_check(checks):
    health.register_check(name="queue", check=queue_is_gone)
    health.register_check(name="queue", check=queue_is_gone)  # the same check again: no change
    with pytest.raises(ValueError, match="'queue' is already registered"):
        health.register_check(name="queue", check=lambda: "ok")
    assert checks["queue"] is queue_is_gone
