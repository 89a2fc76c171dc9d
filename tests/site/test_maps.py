"""The maps' data (the markers the page hands to static/js/map.js): my sightings with a place on
My sightings (exact, the filters applied), public ones on a species page (rounded for others)."""

from __future__ import annotations

import html
import json
import re

import pytest
from django.test import Client
from django.urls import reverse

from classifier.models import Visibility

pytestmark = pytest.mark.django_db


def markers(response) -> list[dict]:
    assert response.status_code == 200
    found = re.findall(r'data-markers="([^"]*)"', response.content.decode())
    assert len(found) == 1
    return json.loads(html.unescape(found[0]))


def test_my_sightings_map_shows_mine_with_a_place_exactly(
    alice, user, other_user, make_sighting, species
) -> None:
    mine = make_sighting(owner=user, latitude="51.123456", longitude="-0.654321")
    make_sighting(owner=user, latitude=None, longitude=None, place_name="")  # no place
    make_sighting(owner=other_user, visibility=Visibility.PUBLIC)  # bob's
    other_species = make_sighting(owner=user, species_index=2)
    shown = markers(alice.get(reverse("classifier:sighting_list")))
    assert {m["url"] for m in shown} == {
        reverse("classifier:sighting_detail", args=[s.pk]) for s in (mine, other_species)
    }
    first = next(m for m in shown if m["url"].endswith(f"/{mine.pk}/"))
    assert (first["lat"], first["lon"]) == (51.123456, -0.654321)
    assert first["label"].startswith("Abbotts Babbler, ")
    filtered = alice.get(reverse("classifier:sighting_list"), {"species": "barn owl"})
    assert [m["url"] for m in markers(filtered)] == [
        reverse("classifier:sighting_detail", args=[other_species.pk])
    ]


def test_a_species_map_shows_public_sightings_rounded_for_others(
    bob, user, other_user, make_sighting, species
) -> None:
    public = make_sighting(
        owner=user, latitude="51.123456", longitude="-0.654321", visibility=Visibility.PUBLIC
    )
    make_sighting(owner=user)  # private
    make_sighting(owner=user, species_index=1, visibility=Visibility.PUBLIC)  # another species
    url = reverse("classifier:species_detail", args=[species[0].slug])
    for client in (Client(), bob):
        (shown,) = markers(client.get(url))
        assert shown["url"] == reverse("classifier:sighting_detail", args=[public.pk])
        assert (shown["lat"], shown["lon"]) == (51.1, -0.7)
        assert "alice" not in json.dumps(shown)
