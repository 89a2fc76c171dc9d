"""The training consent on the profile page: off by default, said plainly, changed by the person."""

from __future__ import annotations

import re

import pytest
from django.contrib.auth import get_user_model
from django.test import Client
from django.urls import reverse

from accounts.services import set_training_consent

pytestmark = pytest.mark.django_db

User = get_user_model()
PASSWORD = "a-long-Bird-watching-passphrase-42"
LABEL = "My confirmed photos may be used to improve identification"


def consent_checkbox(html: str) -> str:
    """The consent's <input> tag on a page."""
    return re.search(r'<input[^>]*name="share_photos_for_training"[^>]*>', html).group(0)


@pytest.fixture
def wren() -> User:
    return User.objects.create_user("wren", "wren@example.org", PASSWORD)


@pytest.fixture
def signed_in(wren) -> Client:
    client = Client()
    client.force_login(wren)
    return client


def test_a_new_account_shares_nothing(client):
    client.post(
        reverse("accounts:signup"),
        {
            "username": "robin",
            "email": "robin@example.org",
            "password1": PASSWORD,
            "password2": PASSWORD,
        },
    )
    robin = User.objects.get(username="robin")
    assert robin.share_photos_for_training is False
    assert robin.training_consent_changed_at is None


def test_the_profile_states_the_consent_unticked_with_its_explanation(signed_in):
    html = signed_in.get(reverse("accounts:profile")).content.decode()
    assert LABEL in html
    assert "without EXIF data" in html and "cut to the bird&#x27;s box" in html
    assert "left out of the next export" in html
    checkbox = consent_checkbox(html)
    assert 'type="checkbox"' in checkbox and "checked" not in checkbox
    assert 'aria-describedby="training-consent-help"' in checkbox
    assert 'id="training-consent-help"' in html


def test_the_profile_form_turns_the_consent_on_and_off(signed_in, wren):
    url = reverse("accounts:profile")
    response = signed_in.post(url, {"share_photos_for_training": "on"}, follow=True)
    assert response.redirect_chain == [(url, 302)]
    assert "may now be used to improve identification" in response.content.decode()
    wren.refresh_from_db()
    assert wren.share_photos_for_training is True
    turned_on = wren.training_consent_changed_at
    assert turned_on is not None
    assert "checked" in consent_checkbox(response.content.decode())

    response = signed_in.post(url, {})  # an unticked box sends nothing
    assert response.status_code == 302
    wren.refresh_from_db()
    assert wren.share_photos_for_training is False
    assert wren.training_consent_changed_at >= turned_on


def test_setting_the_same_choice_again_keeps_the_moment_of_the_change(wren):
    set_training_consent(user=wren, allowed=True)
    changed = User.objects.get(pk=wren.pk).training_consent_changed_at
    set_training_consent(user=wren, allowed=True)
    assert User.objects.get(pk=wren.pk).training_consent_changed_at == changed


def test_the_profile_form_needs_a_signed_in_person(client):
    response = client.post(reverse("accounts:profile"), {"share_photos_for_training": "on"})
    assert response.status_code == 302 and "/accounts/login/" in response["Location"]
