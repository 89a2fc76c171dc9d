"""Sign up, log in (and its rate limit), CSRF, private pages, password flows, account deletion."""

from __future__ import annotations

import re

import pytest
from django.contrib.auth import get_user_model
from django.core import mail
from django.test import Client
from django.urls import reverse

pytestmark = pytest.mark.django_db

User = get_user_model()
PASSWORD = "a-long-Bird-watching-passphrase-42"


def signup(client: Client, **overrides) -> object:
    data = {
        "username": "robin",
        "email": "robin@example.org",
        "password1": PASSWORD,
        "password2": PASSWORD,
        **overrides,
    }
    return client.post(reverse("accounts:signup"), data)


@pytest.fixture
def user():
    return User.objects.create_user("wren", "wren@example.org", PASSWORD)


def test_signup_creates_user_and_logs_in(client):
    response = signup(client)
    assert response.status_code == 302
    assert User.objects.filter(username="robin").exists()
    assert client.get(reverse("accounts:profile")).status_code == 200


def test_signup_follows_safe_next_only(client):
    response = signup(client, next="/accounts/profile/")
    assert response["Location"] == "/accounts/profile/"
    client.logout()
    response = signup(client, username="jay", email="jay@example.org", next="https://evil.example/")
    assert response["Location"] == reverse("home")


def test_signup_refuses_duplicate_username(client, user):
    response = signup(client, username="wren", email="other@example.org")
    assert response.status_code == 200
    assert "A user with that username already exists." in response.content.decode()
    assert User.objects.count() == 1


def test_signup_refuses_duplicate_email_case_insensitive(client, user):
    response = signup(client, email="WREN@example.org")
    assert "An account with this email address already exists." in response.content.decode()
    assert User.objects.count() == 1


@pytest.mark.parametrize(
    ("password", "message"),
    [
        ("short1", "This password is too short."),
        ("password123", "This password is too common."),
        ("83749201938475", "This password is entirely numeric."),
    ],
)
def test_signup_refuses_weak_password(client, password, message):
    response = signup(client, password1=password, password2=password)
    assert message in response.content.decode()
    assert not User.objects.exists()


def test_signup_refuses_mismatched_passwords(client):
    response = signup(client, password2=PASSWORD + "x")
    assert "didn\u2019t match" in response.content.decode()
    assert not User.objects.exists()


def test_login_succeeds(client, user):
    response = client.post(reverse("accounts:login"), {"username": "wren", "password": PASSWORD})
    assert response.status_code == 302
    assert client.get(reverse("accounts:profile")).status_code == 200


def test_login_failure_says_so(client, user):
    response = client.post(reverse("accounts:login"), {"username": "wren", "password": "wrong"})
    assert response.status_code == 200
    assert "Please enter a correct username and password" in response.content.decode()


def test_login_rate_limit_blocks_even_the_right_password(client, user, settings):
    for _ in range(settings.LOGIN_RATE_LIMIT):
        client.post(reverse("accounts:login"), {"username": "wren", "password": "wrong"})
    response = client.post(reverse("accounts:login"), {"username": "wren", "password": PASSWORD})
    assert response.status_code == 429
    assert "Too many attempts" in response.content.decode()
    # Another client address is not affected.
    other = client.post(
        reverse("accounts:login"),
        {"username": "wren", "password": PASSWORD},
        REMOTE_ADDR="10.1.2.3",
    )
    assert other.status_code == 302


def test_signup_rate_limit(client, settings):
    for index in range(settings.SIGNUP_RATE_LIMIT):
        signup(client, username=f"user{index}", email=f"user{index}@example.org", password2="x")
    response = signup(client)
    assert response.status_code == 429
    assert not User.objects.filter(username="robin").exists()


@pytest.mark.parametrize("url_name", ["accounts:login", "accounts:signup"])
def test_forms_require_csrf_token(url_name, user):
    client = Client(enforce_csrf_checks=True)
    response = client.post(reverse(url_name), {"username": "wren", "password": PASSWORD})
    assert response.status_code == 403


def test_forms_carry_csrf_token(client):
    assert "csrfmiddlewaretoken" in client.get(reverse("accounts:signup")).content.decode()


@pytest.mark.parametrize(
    "url_name", ["accounts:profile", "accounts:delete", "accounts:password_change"]
)
def test_anonymous_users_are_redirected_from_private_pages(client, url_name):
    response = client.get(reverse(url_name))
    assert response.status_code == 302
    assert response["Location"].startswith(reverse("accounts:login") + "?next=")


def test_password_change_then_logout_then_login_with_new_password(client, user):
    client.force_login(user)
    new_password = "another-Long-passphrase-for-birds-7"
    response = client.post(
        reverse("accounts:password_change"),
        {"old_password": PASSWORD, "new_password1": new_password, "new_password2": new_password},
    )
    assert response.status_code == 302
    assert client.post(reverse("accounts:logout")).status_code == 302
    assert client.get(reverse("accounts:profile")).status_code == 302
    response = client.post(
        reverse("accounts:login"), {"username": "wren", "password": new_password}
    )
    assert response.status_code == 302


def test_password_reset_sends_a_working_link(client, user):
    client.post(reverse("accounts:password_reset"), {"email": "wren@example.org"})
    assert len(mail.outbox) == 1
    link = re.search(r"https?://[^\s]+/password/reset/[^\s]+/", mail.outbox[0].body).group(0)
    response = client.get(link, follow=True)
    assert "Choose a new password" in response.content.decode()
    new_password = "reset-Passphrase-for-the-wren-99"
    response = client.post(
        response.redirect_chain[-1][0],
        {"new_password1": new_password, "new_password2": new_password},
    )
    assert response.status_code == 302
    user.refresh_from_db()
    assert user.check_password(new_password)


def test_account_deletion_needs_the_password(client, user):
    client.force_login(user)
    response = client.post(reverse("accounts:delete"), {"password": "wrong"})
    assert response.status_code == 200
    assert User.objects.filter(pk=user.pk).exists()


def test_account_deletion_removes_the_user_and_logs_out(client, user):
    client.force_login(user)
    response = client.post(reverse("accounts:delete"), {"password": PASSWORD})
    assert response.status_code == 302
    assert not User.objects.filter(pk=user.pk).exists()
    assert client.get(reverse("accounts:profile")).status_code == 302


def test_every_response_carries_a_request_id(client):
    response = client.get(reverse("home"), HTTP_X_REQUEST_ID="abc123")
    assert response["X-Request-ID"] == "abc123"


def test_client_address_ignores_forged_forwarded_for_unless_behind_trusted_proxies(rf, settings):
    from accounts.ratelimit import client_address

    request = rf.get("/", HTTP_X_FORWARDED_FOR="6.6.6.6, 203.0.113.9", REMOTE_ADDR="10.0.0.2")
    settings.TRUSTED_PROXY_HOPS = 0
    assert client_address(request) == "10.0.0.2"
    settings.TRUSTED_PROXY_HOPS = 1  # our Nginx appended the address it saw
    assert client_address(request) == "203.0.113.9"
