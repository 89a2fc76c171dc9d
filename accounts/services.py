"""Account business logic: log-in limits, API tokens, training consent, deleting an account.

The site's log-in form and the API's token endpoint count failed attempts against one limit per
client address (`accounts.ratelimit`, in the shared cache), so the API is no back door for
password guessing.
"""

from __future__ import annotations

from django.conf import settings
from django.contrib.auth import authenticate
from django.db import transaction
from django.utils import timezone
from rest_framework.authtoken.models import Token

from accounts.models import User
from accounts.ratelimit import is_limited, record_attempt


class TooManyAttempts(Exception):
    """The client used up its attempts for now; `retry_after` is the window in seconds."""

    message = "Too many attempts. Please wait a few minutes and try again."

    def __init__(self, *, retry_after: int) -> None:
        self.retry_after = retry_after
        super().__init__(self.message)


class InvalidCredentials(Exception):
    message = "Unable to log in with provided credentials."

    def __init__(self) -> None:
        super().__init__(self.message)


def _refuse_when_limited(*, scope: str, client: str, limit: int) -> None:
    if is_limited(scope=scope, identity=client, limit=limit):
        raise TooManyAttempts(retry_after=settings.RATE_LIMIT_WINDOW)


def check_login_allowed(*, client: str) -> None:
    """Raise `TooManyAttempts` once `client` failed `LOGIN_RATE_LIMIT` times in the window."""
    _refuse_when_limited(scope="login", client=client, limit=settings.LOGIN_RATE_LIMIT)


def record_failed_login(*, client: str) -> None:
    record_attempt(scope="login", identity=client, window_seconds=settings.RATE_LIMIT_WINDOW)


def count_signup_attempt(*, client: str) -> None:
    """Count a sign-up attempt (successful or not); `TooManyAttempts` past `SIGNUP_RATE_LIMIT`."""
    _refuse_when_limited(scope="signup", client=client, limit=settings.SIGNUP_RATE_LIMIT)
    record_attempt(scope="signup", identity=client, window_seconds=settings.RATE_LIMIT_WINDOW)


def obtain_token(*, username: str, password: str, client: str) -> Token:
    """The account's API token (one per account, made on first request).

    Raises `TooManyAttempts` (checked first, so a correct password does not help a guesser who
    is locked out) or `InvalidCredentials`, which counts as a failed log-in."""
    check_login_allowed(client=client)
    user = authenticate(username=username, password=password)
    if user is None:
        record_failed_login(client=client)
        raise InvalidCredentials()
    token, _ = Token.objects.get_or_create(user=user)
    return token


def revoke_token(*, user: User) -> None:
    """Forget the account's API token: every app using it must log in again."""
    Token.objects.filter(user=user).delete()


def set_training_consent(*, user: User, allowed: bool) -> None:
    """Record whether the person's confirmed photos may be exported for training (read by
    `classifier.services.training_export`); the moment of a change is kept, a repeat is none."""
    if user.share_photos_for_training == allowed:
        return
    user.share_photos_for_training = allowed
    user.training_consent_changed_at = timezone.now()
    user.save(update_fields=["share_photos_for_training", "training_consent_changed_at"])


@transaction.atomic
def delete_account(*, user: User) -> None:
    """Delete the user and everything they own.

    Rows go by cascade; each owned photo's stored file is removed once the transaction commits
    (see classifier.signals), so a failed delete never leaves rows pointing at missing files.
    """
    user.delete()
