""" "Seen near here" in the predict and create answers, with the real small model and real photos:
the caller's position or the photo's EXIF one, a yes or no on every suggestion (never a count or a
place), none without a position; create shares the predict throttles; the schema documents it."""

from __future__ import annotations

import pytest

from classifier.models import Species, Visibility
from tests.api.photos import upload
from tests.site.conftest import utc

pytestmark = pytest.mark.django_db
PREDICT = "/api/v1/predict/"
SIGHTINGS = "/api/v1/sightings/"
# The EXIF photo's position (tests/site/photos.py): the Brandenburg Gate, taken in May 2021.
GATE = ("52.516300", "13.377700")


def marks(response) -> dict[str, bool | None]:
    """Each suggestion's mark by species name; a suggestion holds nothing else new."""
    assert response.status_code in (200, 201), response.json()
    body = response.json()
    items = body["predictions"] if "predictions" in body else body["suggestions"]
    assert all(set(item) == {"species", "probability", "seen_nearby"} for item in items)
    return {item["species"]["name"]: item["seen_nearby"] for item in items}


@pytest.fixture
def hidden(make_sighting, other_user, model_species) -> Species:
    """Bob's public sightings of all the model's species but one, 20 km from the gate in May
    2019; of that one only a private sighting, right at the gate. Returns that one."""
    hidden, *seen = model_species
    for species in seen:
        make_sighting(
            owner=other_user,
            of=species,
            observed_at=utc("2019-05-20T09:00:00"),
            latitude="52.700000",
            longitude=GATE[1],
            visibility=Visibility.PUBLIC,
        )
    make_sighting(
        owner=other_user,
        of=hidden,
        observed_at=utc("2019-05-20T09:00:00"),
        latitude=GATE[0],
        longitude=GATE[1],
        visibility=Visibility.PRIVATE,
    )
    return hidden


@pytest.mark.slow
def test_predict_marks_from_the_photos_exif_position(api, hidden, exif_photo) -> None:
    answer = marks(api.post(PREDICT, {"image": upload("phone.jpg", exif_photo), "k": 8}))
    assert len(answer) == 8 and answer == {name: name != hidden.name for name in answer}


@pytest.mark.slow
def test_predict_with_a_position_far_away_or_none(api, hidden, exif_photo, bird_photo) -> None:
    far = {"image": upload("p.jpg", exif_photo), "k": 8, "latitude": "48.1", "longitude": "11.6"}
    assert set(marks(api.post(PREDICT, far)).values()) == {False}  # Munich, 500 km
    none = marks(api.post(PREDICT, {"image": upload("b.jpg", bird_photo.read_bytes())}))
    assert set(none.values()) == {None}  # no EXIF position, none given: no mark
    half = api.post(PREDICT, {"image": upload("b.jpg", bird_photo.read_bytes()), "latitude": "1"})
    assert half.status_code == 400 and "latitude" in half.json()["errors"]


@pytest.mark.slow
def test_create_marks_from_the_given_position_in_the_sightings_month(
    alice, hidden, bird_photo
) -> None:
    here = {"latitude": GATE[0], "longitude": GATE[1], "visibility": "public"}
    may = {"photo": upload("b.jpg", bird_photo.read_bytes()), "observed_at": "2024-05-02T08:00"}
    answer = marks(alice.post(SIGHTINGS, {**may, **here}))
    assert answer == {name: name != hidden.name for name in answer}
    # In June nothing was logged; the new public sighting does not answer for itself.
    june = {"photo": upload("b.jpg", bird_photo.read_bytes()), "observed_at": "2024-06-02T08:00"}
    assert not any(marks(alice.post(SIGHTINGS, {**june, **here, "species": hidden.name})).values())
    # A sighting read back carries no mark.
    listed = alice.get(SIGHTINGS).json()["results"][0]["suggestions"][0]
    assert "seen_nearby" not in listed


@pytest.mark.slow
def test_create_shares_the_predict_throttle(alice, settings, model_species, bird_photo) -> None:
    rates = {"predict_anon": "20/min", "predict_user": "1/min"}
    settings.REST_FRAMEWORK = {**settings.REST_FRAMEWORK, "DEFAULT_THROTTLE_RATES": rates}
    assert (
        alice.post(PREDICT, {"image": upload("b.jpg", bird_photo.read_bytes())}).status_code == 200
    )
    refused = alice.post(SIGHTINGS, {"photo": upload("b.jpg", bird_photo.read_bytes())})
    assert refused.status_code == 429
    assert alice.get(SIGHTINGS).status_code == 200  # reads are not throttled


def test_the_schema_documents_seen_nearby(api) -> None:
    schema = api.get(SIGHTINGS.replace("sightings/", "schema/"), HTTP_ACCEPT="application/json")
    components = schema.json()["components"]["schemas"]
    marked = components["MarkedSuggestion"]["properties"]["seen_nearby"]
    assert marked["type"] == "boolean" and marked["nullable"] is True
    assert "50 km" in marked["description"]
    prediction = components["Prediction"]["properties"]["predictions"]["items"]["$ref"]
    assert prediction.endswith("/MarkedSuggestion")
    created = components["SightingCreated"]["properties"]["suggestions"]["items"]["$ref"]
    assert created.endswith("/MarkedSuggestion")
    assert {"latitude", "longitude"} <= set(components["PredictRequest"]["properties"])
    create = schema.json()["paths"][SIGHTINGS]["post"]["responses"]
    assert create["201"]["content"]["application/json"]["schema"]["$ref"].endswith(
        "/SightingCreated"
    )
    assert "429" in create
