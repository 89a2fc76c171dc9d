"""'Identify this part' on the site with the real small model: the stored photo is identified
again on the person's box (no upload), a bad box changes nothing, the sighting keeps the box, and
the result page loads Cropper.js from our own static files with no inline script or style."""

from __future__ import annotations

import io
import re
from pathlib import Path

import pytest
from django.conf import settings
from django.test import Client
from django.urls import reverse
from PIL import Image

from classifier.active_model import get_predictor
from classifier.models import BoxSource, PendingPhoto, Sighting, Species

pytestmark = [pytest.mark.slow, pytest.mark.django_db]
LEFT, RIGHT = "AMERICAN FLAMINGO", "EMPEROR PENGUIN"


@pytest.fixture
def pair_jpeg(held_out_photos: list[tuple[Path, str]]) -> bytes:
    """A flamingo and a penguin side by side, 2240 x 1120 (stored at 2048 x 1024)."""
    by_species = {name: path for path, name in held_out_photos}
    image = Image.new("RGB", (448, 224))
    image.paste(Image.open(by_species[LEFT]).convert("RGB"), (0, 0))
    image.paste(Image.open(by_species[RIGHT]).convert("RGB"), (224, 0))
    image = image.resize((2240, 1120), Image.Resampling.LANCZOS)
    buffer = io.BytesIO()
    image.save(buffer, "JPEG", quality=92)
    return buffer.getvalue()


@pytest.fixture
def model_species(active_model) -> None:
    for label in get_predictor().labels:
        Species.objects.create(
            name=label["name"], scientific_name=label["scientific_name"], slug=f"s-{label['index']}"
        )


def identify(client: Client, data: bytes) -> PendingPhoto:
    handle = io.BytesIO(data)
    handle.name = "pair.jpg"
    response = client.post(reverse("home"), {"photo": handle})
    assert response.status_code == 302, response.content.decode()[:500]
    return PendingPhoto.objects.get(pk=response["Location"].rstrip("/").split("/")[-1])


def reidentify(client: Client, pending: PendingPhoto, box: str):
    return client.post(
        reverse("classifier:reidentify_pending_photo", args=[pending.pk]), {"box": box}
    )


def stored_files() -> list[Path]:
    return sorted(p for p in Path(settings.MEDIA_ROOT).rglob("*") if p.is_file())


def test_identify_this_part_on_each_bird_and_keep_the_box(alice, model_species, pair_jpeg) -> None:
    pending = identify(alice, pair_jpeg)
    assert pending.photo_size == (2240, 1120)
    assert pending.suggestions[0]["species"] == RIGHT
    assert pending.box_source in {BoxSource.FULL, BoxSource.FINDER} and pending.box is not None
    files = stored_files()

    page = alice.get(reverse("classifier:pending_photo", args=[pending.pk])).content.decode()
    assert 'data-photo-width="2240" data-photo-height="1120"' in page
    assert f'data-box="{",".join(map(str, pending.box))}"' in page
    assert 'viewBox="0 0 2240 1120"' in page

    response = reidentify(alice, pending, "0,0,1120,1120")
    assert response.status_code == 302 and response["Location"].endswith(f"/identify/{pending.pk}/")
    pending.refresh_from_db()
    assert pending.suggestions[0]["species"] == LEFT and pending.verdict == "bird"
    assert pending.box == (0, 0, 1120, 1120) and pending.box_source == BoxSource.PERSON
    assert stored_files() == files  # the same stored photo, nothing uploaded or copied

    page = alice.get(reverse("classifier:pending_photo", args=[pending.pk])).content.decode()
    assert 'data-box="0,0,1120,1120"' in page and 'data-box-source="person"' in page
    assert "the part you chose" in page and "Identified again" in page
    assert "checked" in re.search(r'<input[^>]*value="AMERICAN FLAMINGO"[^>]*>', page).group(0)

    reidentify(alice, pending, "1200,100,900,900")  # not square: a square around it is used
    pending.refresh_from_db()
    assert pending.suggestions[0]["species"] == RIGHT
    assert pending.box == (1200, 100, 900, 900)

    response = alice.post(
        reverse("classifier:pending_photo", args=[pending.pk]),
        {"species_choice": RIGHT, "observed_at": "2024-05-01T08:00", "visibility": "private"},
    )
    assert response.status_code == 302, response.content.decode()[:800]
    sighting = Sighting.objects.get()
    assert sighting.box == (1200, 100, 900, 900) and sighting.box_source == BoxSource.PERSON
    assert sighting.photo_size == (2240, 1120)
    assert sighting.suggestions[0]["species"] == RIGHT

    detail = alice.get(reverse("classifier:sighting_detail", args=[sighting.pk])).content.decode()
    assert 'viewBox="0 0 2240 1120"' in detail
    assert 'x="1200" y="100" width="900" height="900"' in detail


@pytest.mark.parametrize(
    ("box", "words"),
    [
        ("2000,0,400,400", "outside the photo"),
        ("0,0,10,400", "at least 16 pixels"),
        ("0,0,-5,400", "positive"),
        ("1,2,3", "four whole numbers"),
        ("", "four whole numbers"),
    ],
)
def test_a_bad_box_changes_nothing(alice, model_species, pair_jpeg, box, words) -> None:
    pending = identify(alice, pair_jpeg)
    before = (pending.suggestions, pending.box, pending.box_source, stored_files())

    response = reidentify(alice, pending, box)

    assert response.status_code == 400
    assert words in response.content.decode()
    pending.refresh_from_db()
    assert (pending.suggestions, pending.box, pending.box_source, stored_files()) == before
    assert PendingPhoto.objects.count() == 1 and not Sighting.objects.exists()


def test_only_the_uploader_can_identify_a_part(alice, bob, model_species, pair_jpeg) -> None:
    pending = identify(alice, pair_jpeg)
    assert reidentify(bob, pending, "0,0,1120,1120").status_code == 404
    assert reidentify(Client(), pending, "0,0,1120,1120").status_code == 404
    assert (
        alice.get(reverse("classifier:reidentify_pending_photo", args=[pending.pk])).status_code
        == 405
    )


def test_the_anonymous_uploader_can_identify_a_part(client, model_species, pair_jpeg) -> None:
    pending = identify(client, pair_jpeg)
    assert reidentify(client, pending, "0,0,1120,1120").status_code == 302
    pending.refresh_from_db()
    assert pending.suggestions[0]["species"] == LEFT


def test_the_result_page_is_ready_for_a_strict_csp(alice, model_species, pair_jpeg) -> None:
    pending = identify(alice, pair_jpeg)
    html = alice.get(reverse("classifier:pending_photo", args=[pending.pk])).content.decode()

    assert "style=" not in html
    scripts = re.findall(r"<script[^>]*>", html)
    assert scripts and all(re.search(r'src="/static/[^"]+" defer', tag) for tag in scripts)
    assert "</script>" in html and not re.search(r"<script[^>]*>[^<]+</script>", html)
    assert '/static/vendor/cropperjs/cropper.min.js"' in html
    assert '/static/vendor/cropperjs/cropper.min.css"' in html
    # No code from another site (no CDN): every script and style sheet is our own (photos may
    # come from the media storage, e.g. an S3 endpoint)
    tags = re.findall(r"<(?:script|link)\b[^>]*>", html)
    assert not [
        url for tag in tags for url in re.findall(r'(?:src|href)="([^"]+)"', tag) if "//" in url
    ]
