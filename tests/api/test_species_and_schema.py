"""Species catalogue, the OpenAPI schema and its local docs."""

from __future__ import annotations

from pathlib import Path

import pytest
from django.core.files.base import ContentFile

from classifier.models import Species, SpeciesPhoto, Visibility

pytestmark = pytest.mark.django_db


@pytest.fixture
def species_list(species, shared_data: Path) -> list[Species]:
    """The site's three species; the eagle with a real sample photo."""
    photo = SpeciesPhoto(species=species[1], source_name="valid/BALD EAGLE/1.jpg")
    data = (shared_data / "birds525" / "valid" / "BALD EAGLE" / "1.jpg").read_bytes()
    photo.image.save("1.jpg", ContentFile(data), save=True)
    return species


def test_species_list_search_and_pages(api, species_list):
    body = api.get("/api/v1/species/").json()
    assert [item["name"] for item in body["results"]] == [
        "ABBOTTS BABBLER",
        "BALD EAGLE",
        "BARN OWL",
    ]
    assert body["results"][1]["photo_url"] and body["results"][0]["photo_url"] == ""
    assert [
        i["name"] for i in api.get("/api/v1/species/", {"search": "owl"}).json()["results"]
    ] == ["BARN OWL"]
    assert api.get("/api/v1/species/", {"search": "haliaeetus"}).json()["count"] == 1
    page = api.get("/api/v1/species/", {"page_size": 2, "page": 2}).json()
    assert page["count"] == 3 and [i["name"] for i in page["results"]] == ["BARN OWL"]
    assert api.get("/api/v1/species/", {"search": "\x00"}).status_code == 400


def test_species_detail_has_photos_and_sighting_count(api, species_list, user, make_sighting):
    eagle = species_list[1]
    make_sighting(owner=user, species_index=1)
    make_sighting(owner=user, species_index=1, visibility=Visibility.PUBLIC)
    body = api.get(f"/api/v1/species/{eagle.slug}/").json()
    assert body["id"] == eagle.pk and body["scientific_name"] == "Haliaeetus leucocephalus"
    assert len(body["photos"]) == 1 and body["photos"][0] == body["photo_url"]
    assert body["sighting_count"] == 2
    missing = api.get("/api/v1/species/no-such-bird/")
    assert missing.status_code == 404 and missing.json()["code"] == "not_found"


def test_schema_is_openapi_3_and_documents_every_endpoint(api):
    response = api.get("/api/v1/schema/", HTTP_ACCEPT="application/vnd.oai.openapi+json")
    assert response.status_code == 200
    schema = response.json()
    assert schema["openapi"].startswith("3.")
    assert set(schema["paths"]) == {
        "/api/v1/auth/token/",
        "/api/v1/predict/",
        "/api/v1/sightings/",
        "/api/v1/sightings/{id}/",
        "/api/v1/sightings/ebird.csv",
        "/api/v1/me/",
        "/api/v1/me/life-list/",
        "/api/v1/species/",
        "/api/v1/species/{slug}/",
    }
    predict = schema["paths"]["/api/v1/predict/"]["post"]
    body = predict["requestBody"]["content"]["multipart/form-data"]["schema"]["$ref"]
    assert body.endswith("/PredictRequest")
    image = schema["components"]["schemas"]["PredictRequest"]["properties"]["image"]
    assert image == {"type": "string", "format": "binary"}
    assert {"200", "400", "413", "415", "429", "503"} <= set(predict["responses"])
    assert "tokenAuth" in schema["components"]["securitySchemes"]


@pytest.mark.parametrize("page", ["docs", "redoc"])
def test_docs_are_served_locally(client, page):
    response = client.get(f"/api/v1/{page}/")
    assert response.status_code == 200
    html = response.content.decode()
    assert "/static/drf_spectacular_sidecar/" in html and "cdn" not in html.lower()
