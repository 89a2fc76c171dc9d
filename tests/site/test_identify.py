"""Identification with the real small model: services, pages, logging and model reloads (slow)."""

from __future__ import annotations

import io
import json
import logging
import shutil
from pathlib import Path

import pytest
from django.urls import reverse

from benchmarks.stack import free_port
from classifier.active_model import get_predictor
from classifier.models import PendingPhoto, Sighting, Verdict
from classifier.services import identification, sightings
from core.storage import StorageUnavailable
from tests.conftest import bucket_keys
from tests.site.photos import has_personal_exif, jpeg_with_exif, non_bird_jpeg

pytestmark = [pytest.mark.slow, pytest.mark.django_db]


def top_names(suggestions: list[dict]) -> list[str]:
    return [item["species"] for item in suggestions]


def test_identify_stores_a_clean_photo_and_names_the_held_out_bird(
    active_model, held_out_photo, s3_bucket, s3_client, caplog
) -> None:
    photo_path, species_name = held_out_photo
    caplog.set_level(logging.INFO, logger="classifier.predictions")

    pending = identification.identify_photo(
        data=jpeg_with_exif(Path(photo_path)), owner=None, session_key="browser-1"
    )

    assert species_name in top_names(pending.suggestions)
    assert len(pending.suggestions) == 5
    assert pending.verdict in Verdict.values
    assert pending.model_version == get_predictor().version
    assert (str(pending.latitude), str(pending.longitude)) == ("52.516300", "13.377700")
    stored = s3_client.get_object(Bucket=s3_bucket, Key=pending.photo.name)["Body"].read()
    assert not has_personal_exif(stored)
    logged = [r for r in caplog.records if r.getMessage().startswith("prediction")]
    assert logged and logged[-1].model_version == pending.model_version
    assert logged[-1].latency_ms > 0


def test_a_photo_without_a_bird_is_answered_no_bird(active_model) -> None:
    pending = identification.identify_photo(data=non_bird_jpeg(), owner=None, session_key="")
    assert pending.verdict == Verdict.NO_BIRD


def test_storage_down_while_identifying_leaves_no_row(active_model, s3_bucket, settings) -> None:
    default = settings.STORAGES["default"]
    settings.STORAGES = {
        **settings.STORAGES,
        "default": {
            **default,
            "OPTIONS": {**default["OPTIONS"], "endpoint_url": f"http://127.0.0.1:{free_port()}"},
        },
    }
    with pytest.raises(StorageUnavailable):
        identification.identify_photo(data=non_bird_jpeg(), owner=None, session_key="")
    assert not PendingPhoto.objects.exists()


def test_refused_upload_stores_nothing(active_model, s3_bucket, s3_client, client) -> None:
    response = client.post(reverse("home"), {"photo": _named(b"not an image", "bird.jpg")})
    assert response.status_code == 415
    assert not PendingPhoto.objects.exists() and bucket_keys(s3_client, s3_bucket) == []


def test_identify_page_shows_the_suggestions(active_model, catalogue, held_out_photo, client):
    photo_path, species_name = held_out_photo
    with open(photo_path, "rb") as photo:
        response = client.post(reverse("home"), {"photo": photo})
    assert response.status_code == 302
    page = client.get(response["Location"])
    assert page.status_code == 200
    assert species_name.title() in page.content.decode()


def test_create_sighting_in_one_step_uses_the_photo_date(active_model, held_out_photo, user):
    photo_path, _ = held_out_photo
    sighting = sightings.create_sighting(owner=user, data=jpeg_with_exif(Path(photo_path)))
    assert sighting.observed_at.isoformat() == "2021-05-04T07:30:00+00:00"
    assert sighting.latitude is None  # the photo's GPS is only offered, never taken silently
    assert Sighting.objects.get().suggestions == sighting.suggestions


def test_a_promoted_model_is_picked_up_without_restart(
    active_model, settings, tmp_path, monkeypatch
) -> None:
    first = get_predictor()
    second_dir = tmp_path / "second-model"
    shutil.copytree(active_model, second_dir)
    version = json.loads((second_dir / "version.json").read_text())
    version["version"] = "second-" + version["version"]
    (second_dir / "version.json").write_text(json.dumps(version))
    link = Path(settings.MODELS_DIR) / "active"
    link.unlink()
    link.symlink_to(second_dir, target_is_directory=True)

    assert get_predictor() is first  # re-checked at most every RECHECK_SECONDS
    monkeypatch.setattr("classifier.active_model.RECHECK_SECONDS", 0.0)
    assert get_predictor().version == version["version"]


def _named(data: bytes, name: str) -> io.BytesIO:
    upload = io.BytesIO(data)
    upload.name = name
    return upload
