"""Sightings: the rules of a sighting, the same for the site and the API.

A sighting is checked in full (its model's validators and constraints, and the date rule below)
before anything is stored; its photo is stored before its row and removed again if the row
cannot be written, and the files of deleted rows go only after the transaction commits (see
classifier.signals).
"""

from __future__ import annotations

from datetime import datetime, timedelta
from decimal import Decimal
from enum import Enum

from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone

from accounts.models import User
from classifier.active_model import identify
from classifier.models import PendingPhoto, Sighting, Species, Visibility
from classifier.services.identification import IDENTIFICATION_FIELDS
from classifier.uploads import prepare_photo
from core.storage import files_removed_on_failure, read_file, save_with_file, store_file

# How far ahead of our clock a sighting may be dated: the person's clock and time zone may differ.
FUTURE_TOLERANCE = timedelta(days=1)
FUTURE_DATE_MESSAGE = "The date is in the future."


class Unchanged(Enum):
    """The default of `update_sighting`'s fields: leave the field as it is."""

    UNCHANGED = "unchanged"


UNCHANGED = Unchanged.UNCHANGED


def is_in_the_future(moment: datetime) -> bool:
    return moment > timezone.now() + FUTURE_TOLERANCE


def _date_errors(observed_at: object) -> dict[str, list]:
    """The date rule: a sighting is not dated in the future."""
    if isinstance(observed_at, datetime) and is_in_the_future(observed_at):
        return {"observed_at": [FUTURE_DATE_MESSAGE]}
    return {}


def _validated(sighting: Sighting) -> Sighting:
    """Raise one `ValidationError` naming every field that breaks a rule (the photo aside)."""
    errors: dict[str, list] = {}
    try:
        sighting.full_clean(exclude=["photo"])
    except ValidationError as error:
        errors = error.update_error_dict(errors)
    for name, messages in _date_errors(sighting.observed_at).items():
        errors.setdefault(name, []).extend(messages)
    if errors:
        raise ValidationError(errors)
    return sighting


def _new_sighting(
    *,
    owner: User,
    identified: dict,
    species: Species | None,
    observed_at: datetime,
    count: int | None,
    place_name: str,
    latitude: Decimal | None,
    longitude: Decimal | None,
    notes: str,
    visibility: str,
) -> Sighting:
    """A validated, unsaved sighting. `identified` holds the classifier's fields
    (`Identification.stored_fields`): suggestions, verdict, model version, the box and the
    photo's original upright size."""
    return _validated(
        Sighting(
            owner=owner,
            **identified,
            species=species,
            observed_at=observed_at,
            count=count,
            place_name=place_name.strip(),
            latitude=latitude,
            longitude=longitude,
            notes=notes.strip(),
            visibility=visibility,
        )
    )


def save_pending_photo(
    *,
    pending: PendingPhoto,
    owner: User,
    species: Species | None,
    observed_at: datetime,
    count: int | None = None,
    place_name: str = "",
    latitude: Decimal | None = None,
    longitude: Decimal | None = None,
    notes: str = "",
    visibility: str = Visibility.PRIVATE,
) -> Sighting:
    """Turn an identified photo into a sighting: the photo moves out of the temporary area.
    Raises `ValidationError` (nothing changes) or `StorageUnavailable`."""
    if pending.owner_id not in (None, owner.pk):
        raise ValidationError("This photo belongs to someone else.")
    sighting = _new_sighting(
        owner=owner,
        identified={name: getattr(pending, name) for name in IDENTIFICATION_FIELDS},
        species=species,
        observed_at=observed_at,
        count=count,
        place_name=place_name,
        latitude=latitude,
        longitude=longitude,
        notes=notes,
        visibility=visibility,
    )
    content = read_file(pending.photo)
    with files_removed_on_failure() as stored, transaction.atomic():
        store_file(stored=stored, field_file=sighting.photo, name="photo.jpg", content=content)
        sighting.save()
        pending.delete()  # its temporary file goes once this commits
    return sighting


def create_sighting(
    *,
    owner: User,
    data: bytes,
    species: Species | None = None,
    observed_at: datetime | None = None,
    count: int | None = None,
    place_name: str = "",
    latitude: Decimal | None = None,
    longitude: Decimal | None = None,
    notes: str = "",
    visibility: str = Visibility.PRIVATE,
    box: str | None = None,
) -> Sighting:
    """Identify and save in one step (the API). `species=None` records the species as unknown;
    `observed_at` defaults to the photo's EXIF date (unless that lies in the future), else now.
    The photo's GPS is never used without being asked: pass `latitude`/`longitude` explicitly.
    `box` is the person's box, as `identify_photo` takes it. A bad box, a bad photo or a field
    breaking a rule raises before anything is stored."""
    if errors := _date_errors(observed_at):  # refused before the photo and the model are used
        raise ValidationError(errors)
    prepared = prepare_photo(data=data)
    if observed_at is None and prepared.taken_at and not is_in_the_future(prepared.taken_at):
        observed_at = prepared.taken_at
    identification = identify(image=prepared.image, box=box, original_size=prepared.original_size)
    sighting = _new_sighting(
        owner=owner,
        identified=identification.stored_fields(),
        species=species,
        observed_at=observed_at or timezone.now(),
        count=count,
        place_name=place_name,
        latitude=latitude,
        longitude=longitude,
        notes=notes,
        visibility=visibility,
    )
    save_with_file(instance=sighting, field_name="photo", content=prepared.content)
    return sighting


def update_sighting(
    *,
    sighting: Sighting,
    species: Species | Unchanged | None = UNCHANGED,
    observed_at: datetime | Unchanged = UNCHANGED,
    count: int | Unchanged | None = UNCHANGED,
    place_name: str | Unchanged = UNCHANGED,
    latitude: Decimal | Unchanged | None = UNCHANGED,
    longitude: Decimal | Unchanged | None = UNCHANGED,
    notes: str | Unchanged = UNCHANGED,
    visibility: str | Unchanged = UNCHANGED,
) -> Sighting:
    """Change the fields given (validated like a new sighting; the photo never changes).
    Raises `ValidationError` and leaves the row as it was when a field breaks a rule."""
    given = {
        "species": species,
        "observed_at": observed_at,
        "count": count,
        "place_name": place_name.strip() if isinstance(place_name, str) else place_name,
        "latitude": latitude,
        "longitude": longitude,
        "notes": notes.strip() if isinstance(notes, str) else notes,
        "visibility": visibility,
    }
    changes = {name: value for name, value in given.items() if value is not UNCHANGED}
    for name, value in changes.items():
        setattr(sighting, name, value)
    try:
        _validated(sighting)
    except ValidationError:
        sighting.refresh_from_db()
        raise
    sighting.save(update_fields=[*changes, "updated_at"])
    return sighting


def delete_sighting(*, sighting: Sighting) -> None:
    """Delete the row now; its photo is removed from storage once the delete has committed."""
    with transaction.atomic():
        sighting.delete()
