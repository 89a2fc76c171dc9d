"""core.outages: database and storage outages answer a clear 503, other errors stay 500s."""

from __future__ import annotations

import pytest
from django.conf import settings as project_settings
from django.test import Client

from core.outages import OUTAGES

OUTAGE_MIDDLEWARE = "core.outages.OutageMiddleware"
FAILING = "tests.core.outage_urls.FailingMiddleware"
SESSIONS = "django.contrib.sessions.middleware.SessionMiddleware"
AUTHENTICATION = "django.contrib.auth.middleware.AuthenticationMiddleware"
# Failing view -> the outage it stands for.
KINDS = [
    ("database", "database"),
    ("interface", "database"),
    ("storage", "storage"),
    ("s3", "storage"),
]


def test_the_project_installs_it_outside_what_touches_the_database():
    order = project_settings.MIDDLEWARE
    assert order.index(OUTAGE_MIDDLEWARE) < order.index(SESSIONS)
    assert order.index(OUTAGE_MIDDLEWARE) < order.index(AUTHENTICATION)


@pytest.fixture
def client(settings) -> Client:
    """The project's middleware around the failing views of outage_urls, plus one middleware
    that fails after the view (as a session save does)."""
    settings.MIDDLEWARE = [*settings.MIDDLEWARE, FAILING]
    settings.ROOT_URLCONF = "tests.core.outage_urls"
    return Client(raise_request_exception=False)


@pytest.mark.parametrize(("kind", "outage"), KINDS)
def test_api_outage_is_a_json_503(client, kind, outage):
    response = client.get(f"/api/v1/{kind}/")
    assert response.status_code == 503
    assert response["Retry-After"].isdigit()
    assert response.json() == {"detail": OUTAGES[outage].message, "code": OUTAGES[outage].code}


@pytest.mark.parametrize(("kind", "outage"), KINDS)
def test_api_views_answer_an_outage_like_the_middleware(client, kind, outage):
    """Inside a DRF view the API's exception handler answers: the same message and code."""
    inside = client.get(f"/api/v1/drf/{kind}/")
    outside = client.get(f"/api/v1/{kind}/")
    assert inside.status_code == outside.status_code == 503
    assert inside.json() == outside.json()
    assert inside["Retry-After"] == outside["Retry-After"]


@pytest.mark.parametrize(("kind", "outage"), KINDS)
def test_site_outage_is_a_small_page(client, kind, outage):
    response = client.get(f"/page/{kind}/")
    assert response.status_code == 503
    assert response["Content-Type"].startswith("text/html")
    page = response.content.decode()
    assert "Temporarily unavailable" in page
    assert OUTAGES[outage].message.replace("'", "&#x27;") in page


@pytest.mark.parametrize("path", ["/ok/", "/api/v1/ok/"])
def test_outage_outside_the_view_is_a_503_too(client, path):
    response = client.get(path, {"fail-after": "database"})
    assert response.status_code == 503
    assert OUTAGES["database"].message.split(".")[0] in response.content.decode()


@pytest.mark.parametrize("path", ["/page/bug/", "/api/v1/bug/", "/ok/?fail-after=bug"])
def test_other_errors_stay_500(client, path):
    assert client.get(path).status_code == 500


def test_healthy_requests_pass_through(client):
    response = client.get("/ok/")
    assert (response.status_code, response.content) == (200, b"fine")
