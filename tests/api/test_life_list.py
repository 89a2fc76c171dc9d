"""GET /api/v1/me/life-list/: the owner's species with dates, place, count and photo; orders;
totals; a deletion removing a species; JSON errors."""

from __future__ import annotations

import pytest

from tests.site.conftest import utc

pytestmark = pytest.mark.django_db
URL = "/api/v1/me/life-list/"


def test_the_life_list_of_the_caller(alice, bob, user, other_user, make_sighting) -> None:
    first = make_sighting(owner=user, observed_at=utc("2024-03-01T08:00:00"), place_name="Dune")
    make_sighting(owner=user, observed_at=utc("2024-04-01T08:00:00"))
    make_sighting(owner=user, species_index=None)
    make_sighting(owner=other_user, species_index=2)

    body = alice.get(URL).json()

    assert body["sort"] == "first"
    assert len(body["species"]) == 1
    entry = body["species"][0]
    assert entry["species"]["name"] == "ABBOTTS BABBLER"
    assert entry["first_seen"] == "2024-03-01T08:00:00Z"
    assert entry["last_seen"] == "2024-04-01T08:00:00Z"
    assert entry["first_place"] == "Dune" and entry["sightings"] == 2
    assert entry["first_sighting"].endswith(f"/api/v1/sightings/{first.pk}/")
    assert entry["photo_url"]
    assert body["years"] == [
        {"start": "2024-01-01", "sightings": 2, "species": 1, "new_species": 1}
    ]
    assert [month["start"] for month in body["months"]] == ["2024-03-01", "2024-04-01"]
    assert [item["species"]["name"] for item in bob.get(URL).json()["species"]] == ["BARN OWL"]


def test_orders_and_a_deletion(alice, user, make_sighting) -> None:
    owl = make_sighting(owner=user, species_index=2, observed_at=utc("2024-01-01T08:00:00"))
    for day in (2, 3):
        make_sighting(owner=user, species_index=1, observed_at=utc(f"2024-01-0{day}T08:00:00"))

    def order(sort: str) -> list[str]:
        return [
            item["species"]["name"] for item in alice.get(URL, {"sort": sort}).json()["species"]
        ]

    assert order("first") == ["BARN OWL", "BALD EAGLE"]
    assert order("name") == ["BALD EAGLE", "BARN OWL"]
    assert order("count") == ["BALD EAGLE", "BARN OWL"]
    assert alice.delete(f"/api/v1/sightings/{owl.pk}/").status_code == 204
    assert order("first") == ["BALD EAGLE"]


def test_a_bad_order_and_no_token(alice, api) -> None:
    bad = alice.get(URL, {"sort": "wingspan"})
    assert bad.status_code == 400 and bad.json()["errors"]["sort"]
    assert api.get(URL).status_code == 401
