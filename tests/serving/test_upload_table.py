"""The accept/refuse table through the SITE's identify form and the layers under it.

Each file goes to the identify form (`POST /`), to `classifier.uploads` (`read_upload` +
`prepare_photo`) and to `ml.images`; all must give the same answer. The API engineer's table
(tests/api) drives the same files through the API. Refusals run without a model; accepted
files need the real small model (slow tier) and must be predicted like the same picture in RGB.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.utils.html import escape
from PIL import Image

from classifier.active_model import get_predictor, reset_predictor
from classifier.models import PendingPhoto, Sighting
from classifier.uploads import UploadRejected, prepare_photo, read_upload
from ml.images import ImageRejected, load_rgb
from ml.registry import activate
from tests.api.photos import NOT_IMAGES, accepted_variants, encode, heic, pixel_bomb
from tests.conftest import bucket_keys

pytestmark = pytest.mark.django_db

# Largest difference allowed between the probabilities of a file and of its RGB twin
# (JPEG re-encoding, CMYK and palette round trips move them a little).
PROBABILITY_TOLERANCE = 0.05
NAMES = {
    "empty": "photo.jpg",
    "text": "notes.txt",
    "html": "page.html",
    "svg": "drawing.svg",
    "pdf": "document.pdf",
    "gzip": "photo.jpg",
    "random": "photo.jpg",
}


BOMBS = {"pixel_bomb_30000": (30000, 30000), "over_pixel_limit_8000": (8000, 8000)}


def refused_file(case: str) -> tuple[str, bytes, set[int]]:
    """(file name, bytes, the statuses allowed) of a file that must be refused."""
    if case in BOMBS:
        return "bomb.png", pixel_bomb(*BOMBS[case]), {400, 413}
    return NAMES[case], NOT_IMAGES[case], {400, 415}


@pytest.fixture
def nothing_left(settings, tmp_path: Path, s3_bucket: str, s3_client) -> Iterator[None]:
    """Every upload spooled to a temporary file of our own; afterwards none of those files,
    no row, no stored object and no local media file may remain."""
    spool = tmp_path / "uploads"
    spool.mkdir()
    settings.FILE_UPLOAD_TEMP_DIR = str(spool)
    settings.FILE_UPLOAD_MAX_MEMORY_SIZE = 0
    yield
    assert not Sighting.objects.exists() and not PendingPhoto.objects.exists()
    assert bucket_keys(s3_client, s3_bucket) == []
    assert list(spool.iterdir()) == []
    assert not any(Path(settings.MEDIA_ROOT).rglob("*"))


def upload(name: str, data: bytes) -> SimpleUploadedFile:
    return SimpleUploadedFile(name, data, content_type="application/octet-stream")


def layer_answer(name: str, data: bytes) -> UploadRejected | None:
    """What `classifier.uploads` says about a file (None: accepted)."""
    try:
        prepare_photo(data=read_upload(upload=upload(name, data)))
    except UploadRejected as error:
        return error
    return None


def site_post(client, name: str, data: bytes):
    return client.post("/", {"photo": upload(name, data)})


@pytest.mark.parametrize("case", [*NOT_IMAGES, *BOMBS])
def test_refused_alike_by_site_uploads_and_images(client, case, nothing_left):
    name, data, statuses = refused_file(case)
    refusal = layer_answer(name, data)
    assert refusal is not None and refusal.status_code in statuses
    assert len(refusal.message) > 15
    with pytest.raises(ImageRejected):
        load_rgb(data)
    response = site_post(client, name, data)
    assert response.status_code == refusal.status_code
    assert escape(refusal.message) in response.content.decode()


def test_larger_than_the_size_limit_is_413(client, settings, nothing_left, bird_photo):
    """A real photo over the limit, refused before the file is read (and its spool removed)."""
    data = bird_photo.read_bytes()
    settings.MAX_UPLOAD_BYTES = len(data) - 1
    refusal = layer_answer("bird.jpg", data)
    assert refusal is not None and refusal.status_code == 413
    response = site_post(client, "bird.jpg", data)
    assert response.status_code == 413
    assert escape(refusal.message) in response.content.decode()


# --- accepted files: the real small model ------------------------------------------------------
@pytest.fixture
def predictor(settings, tmp_path: Path, small_model_dir: Path):
    """The small model made the site's active model for one test."""
    settings.MODELS_DIR = tmp_path / "data" / "models"
    activate(model_dir=small_model_dir, models_root=settings.MODELS_DIR)
    reset_predictor()
    yield get_predictor()
    reset_predictor()


@pytest.fixture(scope="module")
def photo(held_out_photo: tuple[Path, str]) -> Image.Image:
    """A photo the small model never saw in training."""
    return Image.open(held_out_photo[0]).convert("RGB")


def probabilities(suggestions) -> dict[str, float]:
    return {s.name: s.probability for s in suggestions}


def assert_predicted_alike(got: dict[str, float], expected: dict[str, float]) -> None:
    """Same top-1 species; close probabilities for every species either side suggests."""
    assert max(got, key=got.get) == max(expected, key=expected.get)
    for name in got.keys() | expected.keys():
        assert abs(got.get(name, 0.0) - expected.get(name, 0.0)) < PROBABILITY_TOLERANCE, name


def assert_accepted_like(client, predictor, name: str, data: bytes, twin: Image.Image) -> None:
    """Accepted by every layer and predicted like `twin` (the same picture in RGB)."""
    expected = probabilities(predictor.predict(twin).suggestions)
    prepared = prepare_photo(data=read_upload(upload=upload(name, data)))
    assert_predicted_alike(probabilities(predictor.predict(prepared.image).suggestions), expected)
    assert_predicted_alike(probabilities(predictor.predict(data).suggestions), expected)
    response = site_post(client, name, data)
    assert response.status_code == 302, response.content.decode()[:2000]
    pending = PendingPhoto.objects.get()
    stored = {s["species"]: s["probability"] for s in pending.suggestions}
    assert_predicted_alike(stored, expected)


@pytest.mark.slow
@pytest.mark.parametrize(
    "case",
    [
        "jpeg",
        "png",
        "png_rgba",
        "webp",
        "gif",
        "greyscale",
        "cmyk_jpeg",
        "png_16bit",
        "exif_rotated",
        "panorama",
        "jpeg_named_png",
    ],
)
def test_accepted_and_predicted_like_rgb(client, predictor, photo, case, s3_bucket, s3_client):
    name, data, twin = accepted_variants(photo)[case]
    assert_accepted_like(client, predictor, name, data, twin)
    assert bucket_keys(s3_client, s3_bucket) == [PendingPhoto.objects.get().photo.name]


@pytest.mark.slow
def test_heic_is_accepted_or_a_clear_415(client, predictor, photo, s3_bucket):
    data = heic(photo)
    refusal = layer_answer("bird.heic", data)
    if refusal is None:
        assert_accepted_like(client, predictor, "bird.heic", data, photo)
    else:
        assert refusal.status_code == 415
        response = site_post(client, "bird.heic", data)
        assert response.status_code == 415
        assert escape(refusal.message) in response.content.decode()


def edge_cases(photo: Image.Image) -> dict[str, tuple[str, bytes]]:
    """Files that may be accepted or refused, but never with a 5xx."""
    jpeg = encode(photo.resize((800, 600)), "JPEG", quality=90)
    return {
        "truncated_jpeg": ("cut.jpg", jpeg[: len(jpeg) // 2]),
        "one_pixel": ("dot.png", encode(photo.resize((1, 1)), "PNG")),
        "sixteen_pixels": ("small.jpg", encode(photo.resize((16, 16)), "JPEG")),
    }


@pytest.mark.slow
@pytest.mark.parametrize("case", ["truncated_jpeg", "one_pixel", "sixteen_pixels"])
def test_edge_cases_are_a_clear_answer(client, predictor, photo, case, s3_bucket, s3_client):
    name, data = edge_cases(photo)[case]
    refusal = layer_answer(name, data)
    response = site_post(client, name, data)
    if refusal is None:
        assert response.status_code == 302
        assert PendingPhoto.objects.count() == 1
    else:
        assert 400 <= refusal.status_code < 500
        assert response.status_code == refusal.status_code
        assert escape(refusal.message) in response.content.decode()
        assert not PendingPhoto.objects.exists()
        assert bucket_keys(s3_client, s3_bucket) == []
