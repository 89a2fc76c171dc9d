"""My sightings: privacy, edit, delete, filters, pagination, CSV, coarse places, pending photos."""

from __future__ import annotations

import csv
import io
from datetime import timedelta

import pytest
from django.core.files.storage import default_storage
from django.core.management import call_command
from django.db import IntegrityError, connection, transaction
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from classifier.browser_session import PENDING_IDS_KEY
from classifier.models import PendingPhoto, Sighting, Visibility
from classifier.services import sightings
from classifier.services.sightings import FUTURE_DATE_MESSAGE
from classifier.views import SIGHTINGS_PER_PAGE
from tests.site.conftest import PASSWORD

pytestmark = pytest.mark.django_db


def test_owner_sees_edits_and_deletes_their_sighting(
    alice, user, make_sighting, species, django_capture_on_commit_callbacks
) -> None:
    sighting = make_sighting(owner=user)
    detail = reverse("classifier:sighting_detail", args=[sighting.pk])
    assert alice.get(detail).status_code == 200

    response = alice.post(
        reverse("classifier:sighting_edit", args=[sighting.pk]),
        {
            "species_choice": "__other__",
            "other_species": "tyto alba",
            "observed_at": "2024-04-01T06:15",
            "place_name": "Old barn",
            "latitude": "",
            "longitude": "",
            "notes": "Hunting at dawn",
            "visibility": "public",
        },
    )
    assert response.status_code == 302
    sighting.refresh_from_db()
    assert (sighting.species, sighting.place_name, sighting.latitude) == (
        species[2],
        "Old barn",
        None,
    )
    assert sighting.visibility == Visibility.PUBLIC

    photo_name = sighting.photo.name
    with django_capture_on_commit_callbacks(execute=True):
        response = alice.post(reverse("classifier:sighting_delete", args=[sighting.pk]))
    assert response.status_code == 302
    assert not Sighting.objects.filter(pk=sighting.pk).exists()
    assert not default_storage.exists(photo_name)


def test_file_stays_until_the_delete_commits(user, make_sighting) -> None:
    sighting = make_sighting(owner=user)
    sightings.delete_sighting(sighting=sighting)  # the test transaction has not committed yet
    assert default_storage.exists(sighting.photo.name)


@pytest.mark.parametrize("page", ["sighting_detail", "sighting_edit", "sighting_delete"])
def test_others_get_404_for_a_private_sighting(bob, client, user, make_sighting, page) -> None:
    sighting = make_sighting(owner=user)
    url = reverse(f"classifier:{page}", args=[sighting.pk])

    assert bob.get(url).status_code == 404
    if page != "sighting_detail":
        assert bob.post(url, {"visibility": "public"}).status_code == 404
    assert client.get(url).status_code == 404
    assert Sighting.objects.get(pk=sighting.pk).visibility == Visibility.PRIVATE


def test_others_cannot_edit_or_delete_a_public_sighting(bob, user, make_sighting) -> None:
    sighting = make_sighting(owner=user, visibility=Visibility.PUBLIC)
    assert bob.get(reverse("classifier:sighting_detail", args=[sighting.pk])).status_code == 200
    assert bob.post(reverse("classifier:sighting_delete", args=[sighting.pk])).status_code == 404
    assert Sighting.objects.filter(pk=sighting.pk).exists()


def test_public_sighting_shows_others_only_a_coarse_place(bob, alice, user, make_sighting) -> None:
    sighting = make_sighting(owner=user, visibility=Visibility.PUBLIC)
    url = reverse("classifier:sighting_detail", args=[sighting.pk])

    for_others = bob.get(url).content.decode()
    assert "about 52.5, 13.4" in for_others
    assert "52.516312" not in for_others and "13.377734" not in for_others

    assert "52.516312, 13.377734" in alice.get(url).content.decode()


def test_sightings_list_newest_first_and_filtered(alice, user, other_user, make_sighting) -> None:
    now = timezone.now()
    old = make_sighting(owner=user, species_index=0, observed_at=now - timedelta(days=30))
    new = make_sighting(owner=user, species_index=1, observed_at=now - timedelta(days=1))
    make_sighting(owner=other_user, species_index=1)
    url = reverse("classifier:sighting_list")

    assert list(alice.get(url).context["page"].object_list) == [new, old]
    by_species = alice.get(url, {"species": "Bald Eagle"}).context["page"].object_list
    assert list(by_species) == [new]
    since = (now - timedelta(days=10)).date().isoformat()
    assert list(alice.get(url, {"date_from": since}).context["page"].object_list) == [new]
    until = (now - timedelta(days=10)).date().isoformat()
    assert list(alice.get(url, {"date_to": until}).context["page"].object_list) == [old]


def test_sightings_list_is_paginated(alice, user, make_sighting) -> None:
    for _ in range(SIGHTINGS_PER_PAGE + 1):
        make_sighting(owner=user)
    url = reverse("classifier:sighting_list")
    assert len(alice.get(url).context["page"].object_list) == SIGHTINGS_PER_PAGE
    assert len(alice.get(url, {"page": 2}).context["page"].object_list) == 1


def test_sightings_list_needs_login(client) -> None:
    response = client.get(reverse("classifier:sighting_list"))
    assert response.status_code == 302 and "/accounts/login/" in response["Location"]


def test_csv_export_has_only_my_sightings_and_defuses_formulas(
    alice, user, other_user, make_sighting
) -> None:
    mine = make_sighting(owner=user, notes='=HYPERLINK("http://evil")')
    make_sighting(owner=other_user)

    response = alice.get(reverse("classifier:sighting_export"))

    assert response.status_code == 200 and response["Content-Type"].startswith("text/csv")
    rows = list(csv.DictReader(io.StringIO(response.content.decode())))
    assert [int(row["id"]) for row in rows] == [mine.pk]
    assert rows[0]["species"] == "Abbotts Babbler"
    assert rows[0]["scientific_name"] == "Malacocincla abbotti"
    assert rows[0]["latitude"] == "52.516312"
    assert rows[0]["notes"].startswith("'=")


def test_pending_page_prefills_date_and_place_from_exif(alice, user, make_pending, species) -> None:
    pending = make_pending(owner=user)

    page = alice.get(reverse("classifier:pending_photo", args=[pending.pk]))

    assert page.status_code == 200
    html = page.content.decode()
    assert 'value="2021-05-04T07:30"' in html
    assert 'value="52.516300"' in html and 'value="13.377700"' in html
    assert "Abbotts Babbler" in html and "81%" in html


def test_anonymous_visitor_signs_up_and_saves_the_same_photo(client, make_pending, species) -> None:
    pending = make_pending()
    session = client.session
    session[PENDING_IDS_KEY] = [str(pending.pk)]
    session.save()
    page_url = reverse("classifier:pending_photo", args=[pending.pk])

    anonymous_page = client.get(page_url).content.decode()
    assert f"/accounts/signup/?next={page_url.replace('/', '%2F')}" in anonymous_page
    assert client.post(page_url, {}).status_code == 302  # to the log-in page, nothing saved

    response = client.post(
        f"/accounts/signup/?next={page_url}",
        {
            "username": "carol",
            "email": "carol@example.org",
            "password1": "a-long-test-password-41",
            "password2": "a-long-test-password-41",
            "next": page_url,
        },
    )
    assert response.status_code == 302 and response["Location"] == page_url
    response = client.post(
        page_url,
        {
            "species_choice": "BALD EAGLE",
            "observed_at": "2021-05-04T07:30",
            "visibility": "private",
            "latitude": "52.5163",
            "longitude": "13.3777",
        },
    )

    sighting = Sighting.objects.get()
    assert response["Location"] == reverse("classifier:sighting_detail", args=[sighting.pk])
    assert (sighting.owner.username, sighting.species, sighting.model_version) == (
        "carol",
        species[1],
        "test-version",
    )
    assert sighting.suggestions[0] == {"species": "ABBOTTS BABBLER", "probability": 0.81}
    assert not PendingPhoto.objects.exists()


def test_other_browser_cannot_open_a_pending_photo(bob, client, user, make_pending) -> None:
    pending = make_pending(owner=user)
    url = reverse("classifier:pending_photo", args=[pending.pk])
    assert bob.get(url).status_code == 404
    assert client.get(url).status_code == 404


def test_invalid_place_is_refused_and_nothing_saved(alice, user, make_pending) -> None:
    pending = make_pending(owner=user)
    response = alice.post(
        reverse("classifier:pending_photo", args=[pending.pk]),
        {
            "species_choice": "__unknown__",
            "observed_at": "2021-05-04T07:30",
            "visibility": "private",
            "latitude": "95",
            "longitude": "",
        },
    )
    assert response.status_code == 400
    assert response.context["form"].errors.keys() >= {"latitude"}
    assert not Sighting.objects.exists() and PendingPhoto.objects.filter(pk=pending.pk).exists()


def test_abandoned_pending_photos_are_cleaned_up(
    settings, user, make_pending, django_capture_on_commit_callbacks
) -> None:
    old, fresh = make_pending(owner=user), make_pending()
    PendingPhoto.objects.filter(pk=old.pk).update(
        created_at=timezone.now() - timedelta(hours=settings.PENDING_PHOTO_MAX_AGE_HOURS + 1)
    )
    with django_capture_on_commit_callbacks(execute=True):
        call_command("cleanup_pending_photos", stdout=io.StringIO())

    assert list(PendingPhoto.objects.all()) == [fresh]
    assert not default_storage.exists(old.photo.name)
    assert default_storage.exists(fresh.photo.name)


SAVE_FORM = {
    "species_choice": "__unknown__",
    "visibility": "private",
    "latitude": "",
    "longitude": "",
}


def test_a_sighting_dated_in_the_future_is_refused_on_the_field(
    alice, user, make_pending, make_sighting
) -> None:
    """The sighting service's date rule, shown on the form's date field (save and edit)."""
    pending = make_pending(owner=user)
    response = alice.post(
        reverse("classifier:pending_photo", args=[pending.pk]),
        {**SAVE_FORM, "observed_at": "2099-05-04T07:30"},
    )
    assert response.status_code == 400
    assert response.context["form"].errors["observed_at"] == [FUTURE_DATE_MESSAGE]
    assert not Sighting.objects.exists() and PendingPhoto.objects.filter(pk=pending.pk).exists()

    sighting = make_sighting(owner=user)
    before = sighting.observed_at
    response = alice.post(
        reverse("classifier:sighting_edit", args=[sighting.pk]),
        {**SAVE_FORM, "observed_at": "2099-05-04T07:30"},
    )
    assert response.status_code == 400
    assert response.context["form"].errors["observed_at"] == [FUTURE_DATE_MESSAGE]
    sighting.refresh_from_db()
    assert sighting.observed_at == before


def test_opening_a_pending_photo_writes_nothing(client, user, make_pending, species) -> None:
    """A GET never claims: a photo this browser sent before logging in stays unowned until it
    is saved (the POST gives it to the account)."""
    client.force_login(user)
    pending = make_pending()
    session = client.session
    session[PENDING_IDS_KEY] = [str(pending.pk)]
    session.save()
    url = reverse("classifier:pending_photo", args=[pending.pk])

    with CaptureQueriesContext(connection) as queries:
        assert client.get(url).status_code == 200
    writes = [q["sql"] for q in queries if not q["sql"].lstrip().upper().startswith("SELECT")]
    assert not [sql for sql in writes if "classifier_" in sql], writes
    pending.refresh_from_db()
    assert pending.owner is None

    response = client.post(url, {**SAVE_FORM, "observed_at": "2021-05-04T07:30"})
    assert response.status_code == 302
    assert Sighting.objects.get().owner == user


def test_logging_in_gives_this_browsers_photos_to_the_account(
    client, user, other_user, make_pending
) -> None:
    mine, someone_elses = make_pending(), make_pending(owner=other_user)
    session = client.session
    session[PENDING_IDS_KEY] = [str(mine.pk), str(someone_elses.pk), "not-a-uuid"]
    session.save()

    response = client.post(reverse("accounts:login"), {"username": "alice", "password": PASSWORD})
    assert response.status_code == 302
    mine.refresh_from_db()
    someone_elses.refresh_from_db()
    assert (mine.owner, someone_elses.owner) == (user, other_user)


def test_count_is_optional_positive_and_shown(alice, user, make_sighting) -> None:
    sighting = make_sighting(owner=user)
    edit = reverse("classifier:sighting_edit", args=[sighting.pk])
    detail = reverse("classifier:sighting_detail", args=[sighting.pk])
    fields = {
        "species_choice": "__other__",
        "other_species": "Abbotts Babbler",
        "observed_at": "2024-04-01T06:15",
        "visibility": "private",
    }
    assert "Not counted" in alice.get(detail).text

    refused = alice.post(edit, {**fields, "count": "0"})
    assert refused.status_code == 400 and "greater than or equal to 1" in refused.text
    sighting.refresh_from_db()
    assert sighting.count is None

    assert alice.post(edit, {**fields, "count": "7"}).status_code == 302
    sighting.refresh_from_db()
    assert sighting.count == 7
    assert "<dd>7</dd>" in alice.get(detail).text
    assert 'value="7"' in alice.get(edit).text
    rows = list(csv.DictReader(io.StringIO(alice.get(reverse("classifier:sighting_export")).text)))
    assert rows[0]["count"] == "7"


def test_the_database_refuses_a_count_of_zero(user, make_sighting) -> None:
    sighting = make_sighting(owner=user)
    with pytest.raises(IntegrityError), transaction.atomic():
        Sighting.objects.filter(pk=sighting.pk).update(count=0)
