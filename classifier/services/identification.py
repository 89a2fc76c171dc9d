"""Identification: name the bird in an upload and keep the photo until the person saves it.

The stripped photo waits as a `PendingPhoto` (its file in the temporary area) between the answer
and the sighting; files follow their rows (see core.storage and classifier.signals).
"""

from __future__ import annotations

import uuid
from datetime import timedelta

from django.db import transaction
from django.utils import timezone

from accounts.models import User
from classifier.active_model import identify
from classifier.boxes import FORMAT_HELP as BOX_FORMAT_HELP
from classifier.boxes import InvalidBox
from classifier.models import BoxMixin, PendingPhoto
from classifier.uploads import prepare_photo
from core.storage import read_file, save_with_file
from ml import images

# What the classifier said about a photo, kept from the pending photo to its sighting.
IDENTIFICATION_FIELDS = ("suggestions", "verdict", "model_version", *BoxMixin.FIELDS)


def identify_photo(
    *, data: bytes, owner: User | None, session_key: str, box: str | None = None
) -> PendingPhoto:
    """Name the bird and keep the stripped photo in the temporary area until it is saved.

    `box` ("x,y,width,height" in pixels of the photo upright at its original size) makes the
    classifier look there; without it the bird finder decides. Raises `UploadRejected` (an
    `InvalidBox` too), `ClassifierUnavailable`, `ValidationError` or `StorageUnavailable`;
    nothing is stored when any of them is raised.
    """
    prepared = prepare_photo(data=data)
    identification = identify(image=prepared.image, box=box, original_size=prepared.original_size)
    pending = PendingPhoto(
        owner=owner,
        session_key=session_key or "",
        taken_at=prepared.taken_at,
        latitude=prepared.latitude,
        longitude=prepared.longitude,
        **identification.stored_fields(),
    )
    pending.full_clean(exclude=["photo"])  # before anything is stored
    save_with_file(instance=pending, field_name="photo", content=prepared.content)
    return pending


def reidentify_pending_photo(*, pending: PendingPhoto, box: str) -> PendingPhoto:
    """Identify the stored photo again on the person's `box` (original upright pixels, as
    `identify_photo` takes it), without a new upload: suggestions, verdict and box change.

    Raises `InvalidBox`, `ClassifierUnavailable` or `StorageUnavailable`; the pending photo is
    unchanged when any of them is raised. `PendingPhoto.DoesNotExist` if it was saved or
    discarded meanwhile.
    """
    if not box or not str(box).strip():
        raise InvalidBox(f"No box was given. {BOX_FORMAT_HELP}")
    content = read_file(pending.photo)
    original_size = pending.photo_size
    if original_size is None:  # identified before boxes were kept: the stored copy's own size
        original_size = images.upright_size(content)
    identification = identify(image=content, box=box, original_size=original_size)
    fields = identification.stored_fields()
    for name, value in fields.items():
        setattr(pending, name, value)
    pending.full_clean(exclude=["photo", "owner"])
    if not PendingPhoto.objects.filter(pk=pending.pk).update(**fields):
        raise PendingPhoto.DoesNotExist("This photo is no longer waiting to be saved.")
    return pending


def claim_pending_photos(*, owner: User, pending_ids: list[str]) -> int:
    """Give the photos a visitor identified anonymously to the account they just logged in or
    signed up with (photos someone else already owns stay theirs); returns how many."""
    ids = []
    for text in pending_ids:
        try:
            ids.append(uuid.UUID(str(text)))
        except ValueError:
            continue
    if not ids:
        return 0
    return PendingPhoto.objects.filter(pk__in=ids, owner__isnull=True).update(owner=owner)


def discard_pending_photo(*, pending: PendingPhoto) -> None:
    with transaction.atomic():
        pending.delete()


def cleanup_pending_photos(*, older_than: timedelta) -> int:
    """Delete photos identified but never saved for longer than `older_than`; returns how many."""
    cutoff = timezone.now() - older_than
    deleted = 0
    for pending in PendingPhoto.objects.filter(created_at__lt=cutoff).iterator():
        with transaction.atomic():
            pending.delete()
        deleted += 1
    return deleted
