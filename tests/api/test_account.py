"""`/api/v1/me/`: the caller's account and their training consent."""

from __future__ import annotations

import pytest

pytestmark = pytest.mark.django_db
URL = "/api/v1/me/"


def test_the_account_says_the_consent_is_off_by_default(alice):
    body = alice.get(URL).json()
    assert body["username"] == "alice" and body["email"] == "alice@example.org"
    assert body["share_photos_for_training"] is False
    assert body["training_consent_changed_at"] is None


def test_patch_turns_the_consent_on_and_off(alice, user):
    body = alice.patch(URL, {"share_photos_for_training": True}, format="json").json()
    assert body["share_photos_for_training"] is True and body["training_consent_changed_at"]
    user.refresh_from_db()
    assert user.share_photos_for_training is True

    body = alice.patch(URL, {"share_photos_for_training": False}, format="json").json()
    assert body["share_photos_for_training"] is False
    user.refresh_from_db()
    assert user.share_photos_for_training is False


def test_only_the_consent_can_be_changed(alice, user):
    response = alice.patch(URL, {"username": "mallory", "email": "m@example.org"}, format="json")
    assert response.status_code == 200 and response.json()["username"] == "alice"
    user.refresh_from_db()
    assert (user.username, user.email) == ("alice", "alice@example.org")


def test_a_bad_value_is_a_json_400_and_changes_nothing(alice, user):
    response = alice.patch(URL, {"share_photos_for_training": "perhaps"}, format="json")
    assert response.status_code == 400
    assert "share_photos_for_training" in response.json()["errors"]
    user.refresh_from_db()
    assert user.share_photos_for_training is False


def test_the_account_needs_a_token(api):
    assert api.get(URL).status_code == 401
    assert api.patch(URL, {"share_photos_for_training": True}, format="json").status_code == 401
