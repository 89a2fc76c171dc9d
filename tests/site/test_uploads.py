"""Uploads: size, type by content, pixel limit, HEIC, and the stored copy without EXIF."""

from __future__ import annotations

import io
from decimal import Decimal
from pathlib import Path

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from PIL import Image

from classifier.uploads import (
    NotAnImageUpload,
    TooManyPixels,
    UnreadableUpload,
    UploadTooLarge,
    prepare_photo,
    read_upload,
)
from tests.site.photos import has_personal_exif, jpeg_with_exif


def test_stored_copy_has_no_exif_but_offers_date_and_place(bird_photo: Path) -> None:
    prepared = prepare_photo(data=jpeg_with_exif(bird_photo))

    assert not has_personal_exif(prepared.content)
    assert prepared.taken_at.isoformat() == "2021-05-04T07:30:00+00:00"
    assert prepared.latitude == Decimal("52.516300")
    assert prepared.longitude == Decimal("13.377700")


def test_orientation_is_applied_to_the_pixels_before_exif_is_dropped(bird_photo: Path) -> None:
    rotated = jpeg_with_exif(bird_photo, orientation=6, landscape=True)  # stored sideways
    width, height = Image.open(io.BytesIO(rotated)).size
    assert width > height

    stored = Image.open(io.BytesIO(prepare_photo(data=rotated).content))

    assert stored.size == (height, width)


def test_photo_without_exif_offers_nothing(bird_photo: Path) -> None:
    prepared = prepare_photo(data=bird_photo.read_bytes())
    assert (prepared.taken_at, prepared.latitude, prepared.longitude) == (None, None, None)


def test_upload_over_the_size_limit_is_refused_with_413(settings) -> None:
    settings.MAX_UPLOAD_BYTES = 1000
    with pytest.raises(UploadTooLarge) as refused:
        read_upload(upload=SimpleUploadedFile("bird.jpg", b"x" * 1001))
    assert refused.value.status_code == 413


def test_type_is_decided_by_content_not_by_name() -> None:
    data = read_upload(upload=SimpleUploadedFile("bird.jpg", b"#!/bin/sh\necho not a photo\n"))
    with pytest.raises(NotAnImageUpload) as refused:
        prepare_photo(data=data)
    assert refused.value.status_code == 415


def test_png_named_txt_is_accepted(bird_photo: Path) -> None:
    buffer = io.BytesIO()
    Image.open(bird_photo).save(buffer, format="PNG")
    data = read_upload(upload=SimpleUploadedFile("notes.txt", buffer.getvalue()))
    assert Image.open(io.BytesIO(prepare_photo(data=data).content)).format == "JPEG"


def test_truncated_photo_is_refused_with_400(bird_photo: Path) -> None:
    with pytest.raises(UnreadableUpload) as refused:
        prepare_photo(data=bird_photo.read_bytes()[:2000])
    assert refused.value.status_code == 400


def test_pixel_limit_is_enforced_from_the_header(settings, bird_photo: Path) -> None:
    settings.MAX_IMAGE_PIXELS = 100 * 100
    with pytest.raises(TooManyPixels) as refused:
        prepare_photo(data=bird_photo.read_bytes())
    assert refused.value.status_code == 413


def test_heic_photo_is_accepted(bird_photo: Path) -> None:
    buffer = io.BytesIO()
    Image.open(bird_photo).convert("RGB").save(buffer, format="HEIF")

    prepared = prepare_photo(data=buffer.getvalue())

    assert Image.open(io.BytesIO(prepared.content)).format == "JPEG"
    assert prepared.image.size == Image.open(bird_photo).size
