"""Sightings through the API: own list with filters and pages, owner isolation, edits, deletes."""

from __future__ import annotations

from datetime import datetime, timedelta
from decimal import Decimal

import pytest
from django.utils import timezone

from classifier.models import Sighting, Visibility
from classifier.services.sightings import FUTURE_DATE_MESSAGE
from tests.api.photos import upload
from tests.conftest import bucket_keys

pytestmark = pytest.mark.django_db
URL = "/api/v1/sightings/"


def days_ago(days: int) -> datetime:
    return timezone.now() - timedelta(days=days, hours=1)


def test_list_is_own_sightings_newest_first(alice, user, other_user, make_sighting):
    older = make_sighting(owner=user, observed_at=days_ago(3))
    newer = make_sighting(owner=user, observed_at=days_ago(1))
    make_sighting(owner=other_user, visibility=Visibility.PUBLIC)
    body = alice.get(URL).json()
    assert body["count"] == 2
    assert [item["id"] for item in body["results"]] == [newer.pk, older.pk]
    item = body["results"][0]
    assert item["owner"] == "alice" and item["species"]["name"] == "ABBOTTS BABBLER"
    assert item["verdict"] == "bird" and item["suggestions"][0]["probability"] == 0.81
    assert item["photo_url"] and item["url"].endswith(f"/api/v1/sightings/{newer.pk}/")


def test_suggestions_link_to_the_catalogue(alice, user, species, make_sighting):
    make_sighting(owner=user)
    suggestion = alice.get(URL).json()["results"][0]["suggestions"][1]["species"]
    eagle = species[1]
    assert suggestion["id"] == eagle.pk
    assert suggestion["scientific_name"] == "Haliaeetus leucocephalus"
    assert suggestion["url"].endswith(f"/api/v1/species/{eagle.slug}/")


def test_pagination(alice, user, make_sighting):
    for day in range(25):
        make_sighting(owner=user, observed_at=days_ago(day))
    first = alice.get(URL).json()
    assert first["count"] == 25 and len(first["results"]) == 20 and first["previous"] is None
    second = alice.get(first["next"]).json()
    assert len(second["results"]) == 5 and second["next"] is None
    assert len(alice.get(URL, {"page_size": 7}).json()["results"]) == 7
    assert len(alice.get(URL, {"page_size": 1000}).json()["results"]) == 25  # capped at 100
    response = alice.get(URL, {"page": 99})
    assert response.status_code == 404 and response.json()["code"] == "not_found"


def test_filters_species_by_id_or_name_and_dates(alice, user, species, make_sighting):
    owl = species[2]
    with_owl = make_sighting(owner=user, species_index=2, observed_at=days_ago(10))
    with_eagle = make_sighting(owner=user, species_index=1, observed_at=days_ago(2))
    make_sighting(owner=user, species_index=None, observed_at=days_ago(1))

    def ids(**params):
        response = alice.get(URL, params)
        assert response.status_code == 200, response.json()
        return [item["id"] for item in response.json()["results"]]

    assert ids(species=owl.pk) == [with_owl.pk]
    assert ids(species="barn owl") == [with_owl.pk]
    assert ids(species="Haliaeetus leucocephalus") == [with_eagle.pk]
    date_from = with_eagle.observed_at.date().isoformat()
    assert with_eagle.pk in ids(date_from=date_from) and with_owl.pk not in ids(date_from=date_from)
    assert ids(date_to=with_owl.observed_at.date().isoformat()) == [with_owl.pk]
    for bad in ({"species": "no such bird"}, {"date_from": "yesterday"}, {"species": "a\x00b"}):
        response = alice.get(URL, bad)
        assert response.status_code == 400 and response.json()["code"] == "invalid"


def test_owner_isolation(alice, bob, user, make_sighting):
    private = make_sighting(owner=user)
    public = make_sighting(
        owner=user, visibility=Visibility.PUBLIC, latitude="51.123456", longitude="-0.987654"
    )
    detail = f"{URL}{private.pk}/"
    assert bob.get(URL).json()["count"] == 0
    for response in (
        bob.get(detail),
        bob.patch(detail, {"notes": "mine now"}, format="json"),
        bob.put(detail, {"observed_at": "2024-05-01T10:00:00Z"}, format="json"),
        bob.delete(detail),
    ):
        assert response.status_code == 404
        assert response.json()["code"] == "not_found"
    # Another person's public sighting is readable (place coarsened), never editable.
    seen = bob.get(f"{URL}{public.pk}/").json()
    assert seen["owner"] == "alice" and seen["place_coarsened"] is True
    assert seen["latitude"] == pytest.approx(51.1) and seen["longitude"] == pytest.approx(-1.0)
    assert bob.patch(f"{URL}{public.pk}/", {"notes": "x"}, format="json").status_code == 404
    assert bob.delete(f"{URL}{public.pk}/").status_code == 404
    own = alice.get(f"{URL}{public.pk}/").json()
    assert own["latitude"] == pytest.approx(51.123456) and own["place_coarsened"] is False
    assert Sighting.objects.filter(notes="", owner=user).count() == 2


def test_unknown_ids_are_404(alice):
    assert alice.get(f"{URL}999999/").status_code == 404
    assert alice.get(f"{URL}99999999999999999999999/").status_code == 404  # beyond bigint


def test_update_fields(alice, user, make_sighting):
    sighting = make_sighting(owner=user, species_index=None)
    detail = f"{URL}{sighting.pk}/"
    response = alice.patch(
        detail,
        {"species": "Bald Eagle", "notes": "  on the fence  ", "visibility": "public"},
        format="json",
    )
    assert response.status_code == 200, response.json()
    body = response.json()
    assert body["species"]["name"] == "BALD EAGLE" and body["notes"] == "on the fence"
    assert body["visibility"] == "public"

    response = alice.put(
        detail,
        {
            "species": None,
            "observed_at": "2024-05-01T10:00:00Z",
            "place_name": "Pond",
            "latitude": "10.5",
            "longitude": "20.25",
        },
        format="json",
    )
    assert response.status_code == 200, response.json()
    sighting.refresh_from_db()
    assert sighting.species is None and sighting.place_name == "Pond"
    assert sighting.latitude == Decimal("10.5") and sighting.observed_at.year == 2024


@pytest.mark.parametrize(
    "change",
    [
        {"latitude": "91"},
        {"latitude": "10.5", "longitude": None},  # one without the other
        {"visibility": "everyone"},
        {"species": 123456},
        {"observed_at": "not a date"},
        {"notes": "x" * 5001},
        {"count": 0},
        {"count": -2},
        {"count": "a few"},
        {"count": 2**31},  # more than the column holds
    ],
)
def test_invalid_updates_are_400_and_change_nothing(alice, user, make_sighting, change):
    sighting = make_sighting(owner=user)
    response = alice.patch(f"{URL}{sighting.pk}/", change, format="json")
    assert response.status_code == 400, response.json()
    assert response.json()["code"] == "invalid" and response.json()["errors"]
    before = sighting.updated_at
    sighting.refresh_from_db()
    assert sighting.updated_at == before and sighting.latitude == Decimal("52.516312")


def test_put_needs_the_date(alice, user, make_sighting):
    sighting = make_sighting(owner=user)
    response = alice.put(f"{URL}{sighting.pk}/", {"notes": "x"}, format="json")
    assert response.status_code == 400
    assert "observed_at" in response.json()["errors"]


def test_delete_removes_row_and_object(
    alice, user, make_sighting, s3_bucket, s3_client, django_capture_on_commit_callbacks
):
    sighting = make_sighting(owner=user)
    assert sighting.photo.name in bucket_keys(s3_client, s3_bucket)
    with django_capture_on_commit_callbacks(execute=True):
        response = alice.delete(f"{URL}{sighting.pk}/")
    assert response.status_code == 204
    assert not Sighting.objects.exists()
    assert sighting.photo.name not in bucket_keys(s3_client, s3_bucket)


def test_photo_url_is_presigned_on_s3(alice, user, make_sighting, s3_bucket):
    sighting = make_sighting(owner=user)
    url = alice.get(f"{URL}{sighting.pk}/").json()["photo_url"]
    assert s3_bucket in url and "X-Amz-Signature=" in url


def test_a_sighting_dated_in_the_future_is_refused_naming_the_field(
    alice, bird_photo, s3_bucket, s3_client
):
    """The date rule is the sighting service's, so the API holds it as the site form does; it is
    checked before the photo and the model are used (no model is active here)."""
    response = alice.post(
        URL,
        {"photo": upload("b.jpg", bird_photo.read_bytes()), "observed_at": "2099-05-04T07:30Z"},
        format="multipart",
    )
    assert response.status_code == 400, response.json()
    body = response.json()
    assert body["code"] == "invalid" and body["errors"]["observed_at"] == [FUTURE_DATE_MESSAGE]
    assert not Sighting.objects.exists() and bucket_keys(s3_client, s3_bucket) == []


def test_moving_a_sighting_into_the_future_is_refused(alice, user, make_sighting):
    sighting = make_sighting(owner=user)
    response = alice.patch(
        f"{URL}{sighting.pk}/", {"observed_at": "2099-01-01T00:00Z"}, format="json"
    )
    assert response.status_code == 400
    assert response.json()["errors"]["observed_at"] == [FUTURE_DATE_MESSAGE]
    before = sighting.observed_at
    sighting.refresh_from_db()
    assert sighting.observed_at == before


def test_count_is_set_read_and_cleared(alice, user, make_sighting):
    sighting = make_sighting(owner=user)
    detail = f"{URL}{sighting.pk}/"
    assert alice.get(detail).json()["count"] is None

    assert alice.patch(detail, {"count": 12}, format="json").json()["count"] == 12
    sighting.refresh_from_db()
    assert sighting.count == 12
    assert alice.patch(detail, {"count": None}, format="json").json()["count"] is None
    sighting.refresh_from_db()
    assert sighting.count is None
