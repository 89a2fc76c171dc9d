"""Account services: API tokens under the log-in limit the site's form shares."""

from __future__ import annotations

import pytest
from rest_framework.authtoken.models import Token

from accounts.services import (
    InvalidCredentials,
    TooManyAttempts,
    check_login_allowed,
    obtain_token,
    revoke_token,
)
from tests.site.conftest import PASSWORD

pytestmark = pytest.mark.django_db
CLIENT = "203.0.113.7"


def test_one_token_per_account_until_revoked(user) -> None:
    token = obtain_token(username="alice", password=PASSWORD, client=CLIENT)
    assert obtain_token(username="alice", password=PASSWORD, client=CLIENT) == token
    revoke_token(user=user)
    assert not Token.objects.filter(user=user).exists()


def test_failed_attempts_lock_the_client_out_even_with_the_right_password(user, settings) -> None:
    settings.LOGIN_RATE_LIMIT = 2
    for _ in range(2):
        with pytest.raises(InvalidCredentials):
            obtain_token(username="alice", password="guess", client=CLIENT)
    with pytest.raises(TooManyAttempts) as locked:
        obtain_token(username="alice", password=PASSWORD, client=CLIENT)
    assert locked.value.retry_after == settings.RATE_LIMIT_WINDOW
    with pytest.raises(TooManyAttempts):
        check_login_allowed(client=CLIENT)  # what the site's log-in form asks
    check_login_allowed(client="198.51.100.1")  # other addresses are not affected
    assert not Token.objects.exists()
