"""Refused uploads (the accept/refuse table) through the API, and predict throttling.

No model is needed: every file here is refused before the classifier runs. Each refusal must
leave no row, no stored object and no temporary upload file behind.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from PIL import Image

from accounts.ratelimit import attempts_so_far
from classifier.models import PendingPhoto, Sighting
from tests.api.photos import NOT_IMAGES, encode, pixel_bomb, upload
from tests.conftest import bucket_keys

pytestmark = pytest.mark.django_db


@pytest.fixture
def temp_uploads(settings, tmp_path: Path) -> Path:
    """Every upload is spooled to a temporary file here (none stays in memory)."""
    folder = tmp_path / "uploads"
    folder.mkdir()
    settings.FILE_UPLOAD_TEMP_DIR = str(folder)
    settings.FILE_UPLOAD_MAX_MEMORY_SIZE = 0
    return folder


def refusals(bird_photo: Path) -> list[tuple[str, str, bytes, set[int], str]]:
    """(case, file name, bytes, allowed statuses, code)."""
    photo = Image.open(bird_photo).convert("RGB")
    big = encode(photo.resize((800, 800)), "JPEG", quality=90)
    cases = [(name, "photo.jpg", data, {415}, "not_an_image") for name, data in NOT_IMAGES.items()]
    cases += [
        ("pixel_bomb", "bomb.png", pixel_bomb(), {413}, "too_many_pixels"),
        ("truncated_jpeg", "cut.jpg", big[: len(big) // 2], {400}, "unreadable_image"),
    ]
    return cases


@pytest.mark.parametrize("endpoint", ["predict", "sightings"])
def test_refused_uploads_leave_nothing_behind(
    endpoint, alice, bird_photo, s3_bucket, s3_client, temp_uploads
):
    url, field = (
        ("/api/v1/predict/", "image") if endpoint == "predict" else ("/api/v1/sightings/", "photo")
    )
    for case, name, data, statuses, code in refusals(bird_photo):
        response = alice.post(url, {field: upload(name, data)}, format="multipart")
        assert response.status_code in statuses, (case, response.json())
        body = response.json()
        assert body["code"] == code, case
        assert len(body["detail"]) > 10, case
        assert not Sighting.objects.exists() and not PendingPhoto.objects.exists(), case
        assert bucket_keys(s3_client, s3_bucket) == [], case
        assert list(temp_uploads.iterdir()) == [], case


def test_pixel_bomb_is_refused_before_decoding(api):
    import time

    data = pixel_bomb()
    started = time.perf_counter()
    response = api.post("/api/v1/predict/", {"image": upload("bomb.png", data)})
    assert response.status_code == 413
    assert "pixels" in response.json()["detail"]
    assert time.perf_counter() - started < 2.0


def test_too_large_files_are_413(alice, settings, bird_photo, s3_bucket, s3_client, temp_uploads):
    settings.MAX_UPLOAD_BYTES = 5_000
    data = bird_photo.read_bytes()
    assert len(data) > 5_000
    for url, field in (("/api/v1/predict/", "image"), ("/api/v1/sightings/", "photo")):
        response = alice.post(url, {field: upload("big.jpg", data)})
        assert response.status_code == 413
        assert response.json()["code"] == "too_large"
        assert "larger than" in response.json()["detail"]
    assert not Sighting.objects.exists() and bucket_keys(s3_client, s3_bucket) == []
    assert list(temp_uploads.iterdir()) == []


def test_missing_file_or_bad_k_is_400(api, bird_photo):
    response = api.post("/api/v1/predict/", {"k": "3"})
    assert response.status_code == 400 and "image" in response.json()["errors"]
    for k in ("0", "21", "many"):
        response = api.post(
            "/api/v1/predict/", {"image": upload("b.jpg", bird_photo.read_bytes()), "k": k}
        )
        assert response.status_code == 400 and "k" in response.json()["errors"]
    response = api.post("/api/v1/predict/", {"image": "not a file"}, format="json")
    assert response.status_code == 415 and response.json()["code"] == "unsupported_media_type"


def test_no_active_model_is_503(api, bird_photo, no_active_model):
    response = api.post("/api/v1/predict/", {"image": upload("b.jpg", bird_photo.read_bytes())})
    assert response.status_code == 503
    assert response.json()["code"] == "classifier_unavailable"


def test_sightings_need_a_token_before_the_upload_is_read(api, bird_photo):
    response = api.post("/api/v1/sightings/", {"photo": upload("b.jpg", bird_photo.read_bytes())})
    assert response.status_code == 401
    assert not Sighting.objects.exists()


RATES = {"predict_anon": "2/min", "predict_user": "4/min"}


@pytest.fixture
def low_rates(settings):
    settings.REST_FRAMEWORK = {**settings.REST_FRAMEWORK, "DEFAULT_THROTTLE_RATES": RATES}


def post_empty(client, **extra):
    return client.post("/api/v1/predict/", {"image": upload("e.jpg", b"")}, **extra)


def test_anonymous_callers_are_throttled_per_address(api, low_rates):
    assert [post_empty(api).status_code for _ in range(3)] == [415, 415, 429]
    response = post_empty(api)
    assert response.json()["code"] == "throttled" and int(response["Retry-After"]) > 0
    # Counted in the shared cache (Redis when REDIS_URL is set), by client address; refused
    # requests count too (the window does not move).
    assert attempts_so_far(scope="throttle_predict_anon", identity="127.0.0.1") == 4
    assert post_empty(api, REMOTE_ADDR="10.0.0.7").status_code == 415


def test_signed_in_callers_get_the_higher_rate(alice, bob, low_rates):
    assert [post_empty(alice).status_code for _ in range(5)] == [415] * 4 + [429]
    assert post_empty(bob).status_code == 415  # per account, not per address
