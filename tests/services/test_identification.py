"""Identification services that need no model: claiming a visitor's photos."""

from __future__ import annotations

import pytest

from classifier.services.identification import claim_pending_photos

pytestmark = pytest.mark.django_db


def test_claiming_gives_only_unowned_photos_to_the_account(user, other_user, make_pending):
    unowned, owned = make_pending(), make_pending(owner=other_user)
    ids = [str(unowned.pk), str(owned.pk), "garbage", ""]
    assert claim_pending_photos(owner=user, pending_ids=ids) == 1
    unowned.refresh_from_db()
    owned.refresh_from_db()
    assert (unowned.owner, owned.owner) == (user, other_user)
    assert claim_pending_photos(owner=user, pending_ids=[]) == 0
