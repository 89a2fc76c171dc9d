"""Photos on S3 (a real S3 server over HTTP): no EXIF in the bucket, removal after commit,
account deletion, nothing stored on failure, and a clear error when S3 is down."""

from __future__ import annotations

import io
from pathlib import Path

import pytest
from django.urls import reverse

from accounts.services import delete_account
from benchmarks.stack import free_port
from classifier.models import PendingPhoto, Species
from classifier.services import gallery, sightings
from core.storage import StorageUnavailable
from tests.conftest import bucket_keys
from tests.site.photos import has_personal_exif

pytestmark = pytest.mark.django_db


def test_photo_in_the_bucket_has_no_exif_and_goes_with_its_sighting(
    s3_bucket, s3_client, user, make_sighting, django_capture_on_commit_callbacks
) -> None:
    with django_capture_on_commit_callbacks(execute=True):
        sighting = make_sighting(owner=user)  # from a JPEG carrying GPS and a date

    assert bucket_keys(s3_client, s3_bucket) == [sighting.photo.name]
    stored = s3_client.get_object(Bucket=s3_bucket, Key=sighting.photo.name)["Body"].read()
    assert not has_personal_exif(stored)
    url = sighting.photo.url
    assert "X-Amz-Signature=" in url and "X-Amz-Expires=300" in url

    with django_capture_on_commit_callbacks(execute=True):
        sightings.delete_sighting(sighting=sighting)
    assert bucket_keys(s3_client, s3_bucket) == []


def test_account_deletion_removes_photos_from_the_bucket(
    s3_bucket, s3_client, user, make_sighting, make_pending, django_capture_on_commit_callbacks
) -> None:
    with django_capture_on_commit_callbacks(execute=True):
        make_sighting(owner=user)
        make_sighting(owner=user)
        make_pending(owner=user)
    assert len(bucket_keys(s3_client, s3_bucket)) == 3

    with django_capture_on_commit_callbacks(execute=True):
        delete_account(user=user)

    assert bucket_keys(s3_client, s3_bucket) == []


def test_refused_upload_leaves_no_row_and_no_object(s3_bucket, s3_client, client) -> None:
    fake = io.BytesIO(b"GIF89a but then garbage")
    fake.name = "bird.gif"
    response = client.post(reverse("home"), {"photo": fake})
    assert response.status_code in (400, 415)
    assert not PendingPhoto.objects.exists()
    assert bucket_keys(s3_client, s3_bucket) == []


def test_storage_down_raises_storage_unavailable_and_leaves_no_row(
    s3_bucket, settings, shared_data: Path
) -> None:
    options = settings.STORAGES["default"]["OPTIONS"]
    closed_port = free_port()
    settings.STORAGES = {
        **settings.STORAGES,
        "default": {
            **settings.STORAGES["default"],
            "OPTIONS": {**options, "endpoint_url": f"http://127.0.0.1:{closed_port}"},
        },
    }
    with pytest.raises(StorageUnavailable) as error:
        gallery.load_species(data_dir=shared_data / "birds525", photos_per_species=1)
    assert error.value.status_code == 503
    assert not Species.objects.exists()
