"""With the real small model: predict and create sightings from real photos, the accept table
(every variant predicted like the same picture in RGB), storage outage, readiness."""

from __future__ import annotations

import io

import pytest
import requests
from django.core.cache import caches
from django.core.cache.backends.redis import RedisCache
from PIL import Image

from classifier.active_model import get_predictor
from classifier.models import PendingPhoto, Sighting, Species
from tests.api.photos import accepted_variants, encode, heic, upload
from tests.conftest import bucket_keys

pytestmark = [pytest.mark.slow, pytest.mark.django_db]
PREDICT = "/api/v1/predict/"


def probabilities(response) -> dict[str, float]:
    assert response.status_code == 200, response.json()
    return {p["species"]["name"]: p["probability"] for p in response.json()["predictions"]}


def test_predict_a_held_out_photo(api, model_species, held_out_photo):
    photo, species_name = held_out_photo
    response = api.post(PREDICT, {"image": upload("bird.jpg", photo.read_bytes())})
    assert response.status_code == 200, response.json()
    body = response.json()
    assert body["verdict"] in {"bird", "uncertain", "no_bird"}
    assert body["model"]["version"] == get_predictor().version
    predictions = body["predictions"]
    assert species_name in [p["species"]["name"] for p in predictions]
    assert len(predictions) == min(5, len(model_species))
    values = [p["probability"] for p in predictions]
    assert values == sorted(values, reverse=True) and 0 < sum(values) <= 1.0001
    top = predictions[0]["species"]
    assert top["id"] is not None and top["url"].endswith(
        f"/api/v1/species/{Species.objects.get(pk=top['id']).slug}/"
    )
    # Predict stores nothing.
    assert not Sighting.objects.exists() and not PendingPhoto.objects.exists()


def redis_command_counts() -> dict[str, int] | None:
    """Calls per Redis command since the server started; None without Redis."""
    backend = caches["default"]
    if not isinstance(backend, RedisCache):
        return None
    stats = backend._cache.get_client(write=True).info("commandstats")
    return {name.removeprefix("cmdstat_"): value["calls"] for name, value in stats.items()}


def test_a_signed_in_predict_costs_one_query_and_one_counter(
    alice, model_species, bird_photo, django_assert_num_queries
):
    """The lean request path: the token with its user in one query, no health-check query,
    no species rows (read once per worker), and the throttle counted by one INCRBY (no list of
    timestamps read and written back)."""
    image = bird_photo.read_bytes()
    assert alice.post(PREDICT, {"image": upload("b.jpg", image)}).status_code == 200  # warm
    before = redis_command_counts()
    with django_assert_num_queries(1):
        response = alice.post(PREDICT, {"image": upload("b.jpg", image)})
    assert response.status_code == 200, response.json()
    if before is not None:
        after = redis_command_counts()
        used = {name: after[name] - before.get(name, 0) for name in after}
        used = {name: calls for name, calls in used.items() if calls and name != "info"}
        assert used == {"multi": 1, "incrby": 1, "expire": 1, "ttl": 1, "exec": 1}


@pytest.mark.parametrize("k", [1, 3, 20])
def test_k_suggestions(api, active_model, bird_photo, k):
    response = api.post(PREDICT, {"image": upload("b.jpg", bird_photo.read_bytes()), "k": k})
    assert len(response.json()["predictions"]) == min(k, len(get_predictor().labels))
    # Without the species in the catalogue, id and url are null but the name is there.
    species = response.json()["predictions"][0]["species"]
    assert species["id"] is None and species["url"] is None and species["name"]


def test_accepted_variants_predict_like_the_rgb_picture(
    api, active_model, held_out_photo, settings
):
    """A photo of a species the model knows: on a species it does not know, the answer is a
    spread of low confidences that re-encoding alone moves by more than the tolerance."""
    rates = {"predict_anon": "1000/min", "predict_user": "1000/min"}  # many uploads in a row
    settings.REST_FRAMEWORK = {**settings.REST_FRAMEWORK, "DEFAULT_THROTTLE_RATES": rates}
    photo = Image.open(held_out_photo[0]).convert("RGB")
    for case, (name, data, reference) in accepted_variants(photo).items():
        got = probabilities(api.post(PREDICT, {"image": upload(name, data)}))
        want = probabilities(
            api.post(PREDICT, {"image": upload("ref.png", encode(reference, "PNG"))})
        )
        assert max(got, key=got.get) == max(want, key=want.get), case
        for species in set(got) & set(want):
            assert got[species] == pytest.approx(want[species], abs=0.05), case


def test_heic_is_accepted_or_refused_clearly(api, active_model, bird_photo):
    response = api.post(PREDICT, {"image": upload("phone.heic", heic(Image.open(bird_photo)))})
    if response.status_code != 200:
        assert response.status_code == 415 and "HEIC" in response.json()["detail"]


@pytest.mark.parametrize("size", [(1, 1), (16, 16)])
def test_tiny_images_never_5xx(api, active_model, size):
    data = encode(Image.new("RGB", size, (90, 120, 60)), "PNG")
    assert api.post(PREDICT, {"image": upload("tiny.png", data)}).status_code < 500


def test_create_a_sighting_from_a_photo(
    alice, user, active_model, species, bird_photo, s3_bucket, s3_client
):
    response = alice.post(
        "/api/v1/sightings/",
        {
            "photo": upload("bird.jpg", bird_photo.read_bytes()),
            "place_name": "  Pond ",
            "latitude": "52.5",
            "longitude": "13.4",
            "notes": "two of them",
            "visibility": "public",
        },
    )
    assert response.status_code == 201, response.json()
    body = response.json()
    sighting = Sighting.objects.get(pk=body["id"])
    assert sighting.owner == user and sighting.species is None  # unknown unless given
    assert body["species"] is None and body["place_name"] == "Pond" and body["latitude"] == 52.5
    assert body["model_version"] == get_predictor().version and body["suggestions"]
    assert sighting.suggestions[0]["species"] == body["suggestions"][0]["species"]["name"]
    assert bucket_keys(s3_client, s3_bucket) == [sighting.photo.name]
    assert not PendingPhoto.objects.exists()
    photo = requests.get(body["photo_url"], timeout=10)
    assert photo.status_code == 200
    assert not Image.open(io.BytesIO(photo.content)).getexif()  # EXIF stripped

    with_species = alice.post(
        "/api/v1/sightings/",
        {"photo": upload("b.jpg", bird_photo.read_bytes()), "species": "barn owl", "count": "4"},
    )
    assert with_species.status_code == 201 and with_species.json()["species"]["name"] == "BARN OWL"
    assert with_species.json()["count"] == 4 and body["count"] is None


def test_exif_date_becomes_the_observation_date(alice, active_model, exif_photo):
    response = alice.post("/api/v1/sightings/", {"photo": upload("phone.jpg", exif_photo)})
    assert response.status_code == 201
    assert response.json()["observed_at"].startswith("2021-05-04")
    assert response.json()["latitude"] is None  # the photo's GPS is never used unasked


def test_storage_outage_is_503_and_leaves_no_row(
    alice, active_model, bird_photo, s3_bucket, s3_client
):
    s3_client.delete_bucket(Bucket=s3_bucket)
    response = alice.post("/api/v1/sightings/", {"photo": upload("b.jpg", bird_photo.read_bytes())})
    assert response.status_code == 503
    assert response.json()["code"] == "storage_unavailable"
    assert not Sighting.objects.exists()


def test_readyz_with_the_model(client, active_model):
    response = client.get("/readyz")
    assert response.status_code == 200, response.json()
    checks = response.json()["checks"]
    assert all(check["ok"] for check in checks.values())
    assert get_predictor().version in checks["model"]["detail"]
