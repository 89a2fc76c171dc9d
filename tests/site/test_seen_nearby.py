""" "Seen near here" on the result page: every suggestion marked from the photo's EXIF position and
month, only public sightings count, no position means no mark, nothing but yes or no shown."""

from __future__ import annotations

from html.parser import HTMLParser

import pytest
from django.urls import reverse

from classifier.models import PendingPhoto, Visibility
from tests.site.conftest import utc

pytestmark = pytest.mark.django_db


def marks(client, pending: PendingPhoto) -> list[str]:
    found: list[str] = []

    class Marks(HTMLParser):
        inside = False

        def handle_starttag(self, tag, attrs):
            self.inside = "nearby" in (dict(attrs).get("class") or "").split()

        def handle_data(self, data):
            if self.inside:
                found.append(data.strip())
                self.inside = False

    response = client.get(reverse("classifier:pending_photo", args=[pending.pk]))
    assert response.status_code == 200
    Marks().feed(response.content.decode())
    return found


def test_the_result_page_marks_each_suggestion(
    alice, user, bob, other_user, make_pending, make_sighting, species
) -> None:
    # The EXIF photo was taken at the Brandenburg Gate in May 2021 (tests/site/photos.py).
    make_sighting(
        owner=other_user,
        species_index=1,
        observed_at=utc("2018-05-30T10:00:00"),
        latitude="52.3",
        longitude="13.1",
        visibility=Visibility.PUBLIC,
    )
    make_sighting(
        owner=other_user,
        species_index=2,
        observed_at=utc("2018-05-30T10:00:00"),
        visibility=Visibility.PRIVATE,
    )
    make_sighting(
        owner=other_user,
        species_index=0,
        observed_at=utc("2018-04-30T10:00:00"),
        visibility=Visibility.PUBLIC,
    )
    pending = make_pending(owner=user)
    assert marks(alice, pending) == [
        "Not logged near here in May",  # a public one, but in April
        "Logged near here in May",  # 30 km away, in May of another year
        "Not logged near here in May",  # private sightings never count
    ]
    page = alice.get(reverse("classifier:pending_photo", args=[pending.pk])).content.decode()
    assert "bob" not in page and "52.3" not in page  # no person, no place


def test_no_position_no_mark(alice, user, other_user, make_pending, make_sighting) -> None:
    make_sighting(owner=other_user, species_index=1, visibility=Visibility.PUBLIC)
    pending = make_pending(owner=user)
    PendingPhoto.objects.filter(pk=pending.pk).update(latitude=None, longitude=None)
    assert marks(alice, pending) == []
