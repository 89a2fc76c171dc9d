"""The eBird export through the API: the site's file, the list's filters, JSON errors, isolation."""

from __future__ import annotations

import pytest
from django.test import Client

from classifier.ebird import SKIPPED_HEADER
from tests.site.conftest import utc as at

pytestmark = pytest.mark.django_db
URL = "/api/v1/sightings/ebird.csv"


def test_the_api_gives_the_sites_file(alice, user, other_user, make_sighting) -> None:
    make_sighting(owner=user, observed_at=at("2024-05-04T07:30:00"), count=2, notes="a, b")
    make_sighting(owner=user, species_index=None)
    make_sighting(owner=other_user, species_index=2)
    site = Client()
    site.force_login(user)

    response = alice.get(URL)

    assert response.status_code == 200
    assert response["Content-Type"] == "text/csv; charset=utf-8"
    assert response[SKIPPED_HEADER] == "1"
    assert response.content == site.get("/sightings/ebird.csv").content
    assert alice.get(URL, HTTP_ACCEPT="text/csv").content == response.content
    assert response.content.decode() == (
        'Abbotts Babbler,Malacocincla,abbotti,2,"a, b",Tiergarten,52.516312,13.377734,'
        "05/04/2024,07:30,,,Incidental,,,N,,,\r\n"
    )


def test_filters_and_bad_filters(alice, user, species, make_sighting) -> None:
    make_sighting(owner=user, observed_at=at("2024-03-01T08:00:00"))
    make_sighting(owner=user, species_index=2, observed_at=at("2024-04-01T08:00:00"))

    owls = alice.get(URL, {"species": species[2].pk})
    spring = alice.get(URL, {"date_from": "2024-03-15"})
    bad = alice.get(URL, {"species": "dodo"})

    assert owls.content.decode().startswith("Barn Owl,Tyto,alba,X,")
    assert spring.content.decode().count("\r\n") == 1 and b"Barn Owl" in spring.content
    assert bad.status_code == 400 and bad.json()["errors"]["species"]
    also_bad = alice.get(URL, {"date_from": "May"}, HTTP_ACCEPT="text/csv")
    assert also_bad.status_code == 400 and also_bad.json()["errors"]["date_from"]


def test_the_export_needs_a_token(api) -> None:
    response = api.get(URL)
    assert response.status_code == 401 and response.json()["code"] == "not_authenticated"


def test_the_schema_documents_the_csv_answer(api) -> None:
    schema = api.get("/api/v1/schema/", HTTP_ACCEPT="application/vnd.oai.openapi+json").json()
    operation = schema["paths"]["/api/v1/sightings/ebird.csv"]["get"]
    assert "text/csv" in operation["responses"]["200"]["content"]
    assert {"species", "date_from", "date_to"} <= {p["name"] for p in operation["parameters"]}
