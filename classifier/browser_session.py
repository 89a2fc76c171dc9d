"""The photos a browser identified, kept in its session data (which survives the key rotation
at log-in and sign-up), so an anonymous visitor can sign up and still save their photo."""

from __future__ import annotations

from django.contrib.sessions.backends.base import SessionBase

from classifier.models import PendingPhoto

PENDING_IDS_KEY = "pending_photo_ids"
REMEMBERED = 10  # the newest ones; older uploads of this browser are forgotten


def pending_ids(session: SessionBase) -> list[str]:
    return list(session.get(PENDING_IDS_KEY, []))


def remember_pending(session: SessionBase, pending: PendingPhoto) -> None:
    session[PENDING_IDS_KEY] = [*pending_ids(session)[-(REMEMBERED - 1) :], str(pending.pk)]


def forget_pending(session: SessionBase, pending_id: str) -> None:
    session[PENDING_IDS_KEY] = [i for i in pending_ids(session) if i != pending_id]
