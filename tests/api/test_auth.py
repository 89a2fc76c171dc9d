"""Token authentication: obtain, use, revoke; failures are JSON 400/401/429."""

from __future__ import annotations

import pytest
from rest_framework.authtoken.models import Token

from tests.api.conftest import PASSWORD

pytestmark = pytest.mark.django_db
TOKEN_URL = "/api/v1/auth/token/"


def test_obtain_use_and_revoke_a_token(api, user):
    response = api.post(TOKEN_URL, {"username": "alice", "password": PASSWORD}, format="json")
    assert response.status_code == 200
    token = response.json()["token"]
    assert Token.objects.get(user=user).key == token

    api.credentials(HTTP_AUTHORIZATION=f"Token {token}")
    assert api.get("/api/v1/sightings/").status_code == 200
    # Asking again gives the same token (one per account).
    assert api.post(TOKEN_URL, {"username": "alice", "password": PASSWORD}).json()["token"] == token

    assert api.delete(TOKEN_URL).status_code == 204
    assert not Token.objects.filter(user=user).exists()
    response = api.get("/api/v1/sightings/")
    assert response.status_code == 401
    assert response.json() == {"detail": "Invalid token.", "code": "authentication_failed"}


def test_wrong_password_is_a_json_400(api, user):
    response = api.post(TOKEN_URL, {"username": "alice", "password": "wrong"}, format="json")
    assert response.status_code == 400
    body = response.json()
    assert body["code"] == "invalid" and "non_field_errors" in body["errors"]
    assert not Token.objects.exists()


def test_no_token_is_401_with_a_challenge(api):
    response = api.get("/api/v1/sightings/")
    assert response.status_code == 401
    assert response["WWW-Authenticate"] == "Token"
    assert response.json()["code"] == "not_authenticated"


@pytest.mark.parametrize("header", ["Token nonsense", "Token ", "Bearer abc", "Token a b"])
def test_bad_tokens_are_401(api, header):
    api.credentials(HTTP_AUTHORIZATION=header)
    response = api.get("/api/v1/sightings/")
    assert response.status_code == 401
    assert set(response.json()) == {"detail", "code"}


def test_revoking_needs_authentication(api):
    assert api.delete(TOKEN_URL).status_code == 401


def test_password_guessing_shares_the_log_in_limit(api, user, settings):
    settings.LOGIN_RATE_LIMIT = 3
    for _ in range(3):
        assert api.post(TOKEN_URL, {"username": "alice", "password": "guess"}).status_code == 400
    response = api.post(TOKEN_URL, {"username": "alice", "password": PASSWORD})
    assert response.status_code == 429
    assert response.json()["code"] == "throttled"
    assert int(response["Retry-After"]) > 0
    # The site's log-in form counts the same attempts.
    assert (
        api.post("/accounts/login/", {"username": "alice", "password": PASSWORD}).status_code == 429
    )


def test_session_authentication_serves_the_browsable_api(client, user):
    client.force_login(user)
    response = client.get("/api/v1/sightings/", HTTP_ACCEPT="text/html")
    assert response.status_code == 200
    assert b"Sighting" in response.content
