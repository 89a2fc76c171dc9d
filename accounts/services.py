"""Account business logic."""

from __future__ import annotations

from django.db import transaction

from accounts.models import User


@transaction.atomic
def delete_account(*, user: User) -> None:
    """Delete the user and everything they own.

    Rows go by cascade; each owned photo's stored file is removed once the transaction commits
    (see classifier.signals), so a failed delete never leaves rows pointing at missing files.
    """
    user.delete()
