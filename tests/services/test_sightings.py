"""The sighting services hold the rules both front ends share: checked before anything is
stored, and nothing changes when one is broken."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.utils import timezone

from classifier.models import PendingPhoto, Sighting
from classifier.services import sightings
from classifier.services.sightings import FUTURE_DATE_MESSAGE, FUTURE_TOLERANCE
from tests.conftest import bucket_keys

pytestmark = pytest.mark.django_db
FAR_AHEAD = timezone.now().replace(year=2099)


def test_a_new_sighting_may_not_be_dated_in_the_future(user, make_pending, species) -> None:
    pending = make_pending(owner=user)
    with pytest.raises(ValidationError) as refused:
        sightings.save_pending_photo(
            pending=pending, owner=user, species=species[0], observed_at=FAR_AHEAD
        )
    assert refused.value.message_dict == {"observed_at": [FUTURE_DATE_MESSAGE]}
    assert not Sighting.objects.exists() and PendingPhoto.objects.filter(pk=pending.pk).exists()

    # A clock a few hours ahead of ours is no future date.
    soon = timezone.now() + FUTURE_TOLERANCE - timedelta(minutes=5)
    saved = sightings.save_pending_photo(
        pending=pending, owner=user, species=species[0], observed_at=soon
    )
    assert saved.observed_at == soon


def test_create_refuses_a_future_date_before_reading_the_photo(user, s3_bucket, s3_client):
    with pytest.raises(ValidationError) as refused:
        sightings.create_sighting(owner=user, data=b"not even a photo", observed_at=FAR_AHEAD)
    assert refused.value.message_dict == {"observed_at": [FUTURE_DATE_MESSAGE]}
    assert not Sighting.objects.exists() and bucket_keys(s3_client, s3_bucket) == []


def test_update_names_every_broken_field_and_changes_nothing(user, make_sighting) -> None:
    sighting = make_sighting(owner=user, notes="first")
    with pytest.raises(ValidationError) as refused:
        sightings.update_sighting(
            sighting=sighting, observed_at=FAR_AHEAD, visibility="everyone", notes="second"
        )
    assert set(refused.value.message_dict) == {"observed_at", "visibility"}
    assert sighting.notes == "first"  # the object is as stored, too
    sighting.refresh_from_db()
    assert (sighting.notes, sighting.observed_at < timezone.now()) == ("first", True)


def test_update_changes_only_the_fields_given(user, make_sighting, species) -> None:
    sighting = make_sighting(owner=user, notes="first")
    place = (sighting.place_name, sighting.latitude, sighting.longitude)
    sightings.update_sighting(sighting=sighting, notes="  second  ", species=None)
    sighting.refresh_from_db()
    assert (sighting.notes, sighting.species) == ("second", None)
    assert (sighting.place_name, sighting.latitude, sighting.longitude) == place


def test_pending_photos_hold_the_verdict_constraint(make_pending) -> None:
    pending = make_pending()
    with pytest.raises(IntegrityError), transaction.atomic():
        PendingPhoto.objects.filter(pk=pending.pk).update(verdict="probably_a_bird")
