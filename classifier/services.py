"""Writes: identify a photo, keep it as a sighting, edit and delete sightings, fill the gallery.

Files and rows move together: a file is stored before its row is written and removed again if
the row cannot be written; files of deleted rows go only after the transaction commits (see
classifier.signals). Storage outages surface as `StorageUnavailable`.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import TypeVar

from botocore.exceptions import BotoCoreError, ClientError
from django.core.exceptions import ValidationError
from django.core.files.base import ContentFile
from django.db import transaction
from django.db.models.fields.files import FieldFile
from django.utils import timezone
from django.utils.text import slugify

from accounts.models import User
from classifier.boxes import FORMAT_HELP as BOX_FORMAT_HELP
from classifier.boxes import InvalidBox
from classifier.models import BoxMixin, PendingPhoto, Sighting, Species, SpeciesPhoto, Visibility
from classifier.predictor import identify
from classifier.uploads import prepare_photo
from core.outages import StorageUnavailable
from ml import images

logger = logging.getLogger(__name__)

T = TypeVar("T")

# What the classifier said about a photo, kept from the pending photo to its sighting.
IDENTIFICATION_FIELDS = ("suggestions", "verdict", "model_version", *BoxMixin.FIELDS)

# Fields of a sighting its owner may change after saving it.
EDITABLE_SIGHTING_FIELDS = frozenset(
    {"species", "observed_at", "place_name", "latitude", "longitude", "notes", "visibility"}
)


@dataclass(frozen=True)
class LoadSpeciesReport:
    created: int
    updated: int
    unchanged: int
    photos_added: int

    @property
    def total(self) -> int:
        return self.created + self.updated + self.unchanged


def _storage_call(action: Callable[[], T]) -> T:
    """Run a storage operation, turning an unreachable or failing S3 into `StorageUnavailable`."""
    try:
        return action()
    except (BotoCoreError, ClientError) as error:
        logger.error("photo storage failed: %s", error)
        raise StorageUnavailable() from error


@contextmanager
def _files_removed_on_failure() -> Iterator[list[FieldFile]]:
    """Collect files stored inside the block; if the block fails, remove them again."""
    stored: list[FieldFile] = []
    try:
        yield stored
    except BaseException:
        for field_file in stored:
            try:
                field_file.storage.delete(field_file.name)
            except (BotoCoreError, ClientError, OSError):
                logger.warning("could not remove orphaned file %s", field_file.name)
        raise


def _store(stored: list[FieldFile], field_file: FieldFile, name: str, content: bytes) -> None:
    _storage_call(lambda: field_file.save(name, ContentFile(content), save=False))
    stored.append(field_file)


def _save_with_file(instance, field_name: str, content: bytes) -> None:
    """Store the file, then the row; if the row cannot be written, remove the stored file."""
    with _files_removed_on_failure() as stored, transaction.atomic():
        _store(stored, getattr(instance, field_name), "photo.jpg", content)
        instance.save()


def identify_photo(
    *, data: bytes, owner: User | None, session_key: str, box: str | None = None
) -> PendingPhoto:
    """Name the bird and keep the stripped photo in the temporary area until it is saved.

    `box` ("x,y,width,height" in pixels of the photo upright at its original size) makes the
    classifier look there; without it the bird finder decides. Raises `UploadRejected` (an
    `InvalidBox` too), `ClassifierUnavailable` or `StorageUnavailable`; nothing is stored when
    any of them is raised.
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
    _save_with_file(pending, "photo", prepared.content)
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
    content = _storage_call(lambda: _read_file(pending.photo))
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


def claim_pending_photo(*, pending: PendingPhoto, owner: User) -> PendingPhoto:
    """Give an anonymous visitor's identified photo to the account they logged in with."""
    if pending.owner_id is None:
        pending.owner = owner
        pending.save(update_fields=["owner"])
    return pending


def discard_pending_photo(*, pending: PendingPhoto) -> None:
    with transaction.atomic():
        pending.delete()


def _new_sighting(
    *,
    owner: User,
    identified: dict,
    species: Species | None,
    observed_at: datetime,
    place_name: str,
    latitude: Decimal | None,
    longitude: Decimal | None,
    notes: str,
    visibility: str,
) -> Sighting:
    """A validated, unsaved sighting (model validators and DB constraints checked up front).

    `identified` holds the classifier's fields (`Identification.stored_fields`): suggestions,
    verdict, model version, the box and the photo's original upright size."""
    sighting = Sighting(
        owner=owner,
        **identified,
        species=species,
        observed_at=observed_at,
        place_name=place_name.strip(),
        latitude=latitude,
        longitude=longitude,
        notes=notes.strip(),
        visibility=visibility,
    )
    sighting.full_clean(exclude=["photo"])
    return sighting


def save_pending_photo(
    *,
    pending: PendingPhoto,
    owner: User,
    species: Species | None,
    observed_at: datetime,
    place_name: str = "",
    latitude: Decimal | None = None,
    longitude: Decimal | None = None,
    notes: str = "",
    visibility: str = Visibility.PRIVATE,
) -> Sighting:
    """Turn an identified photo into a sighting: the photo moves out of the temporary area."""
    if pending.owner_id not in (None, owner.pk):
        raise ValidationError("This photo belongs to someone else.")
    sighting = _new_sighting(
        owner=owner,
        identified={name: getattr(pending, name) for name in IDENTIFICATION_FIELDS},
        species=species,
        observed_at=observed_at,
        place_name=place_name,
        latitude=latitude,
        longitude=longitude,
        notes=notes,
        visibility=visibility,
    )
    content = _storage_call(lambda: _read_file(pending.photo))
    with _files_removed_on_failure() as stored, transaction.atomic():
        _store(stored, sighting.photo, "photo.jpg", content)
        sighting.save()
        pending.delete()  # its temporary file goes once this commits
    return sighting


def _read_file(field_file: FieldFile) -> bytes:
    with field_file.open("rb") as handle:
        return handle.read()


def create_sighting(
    *,
    owner: User,
    data: bytes,
    species: Species | None = None,
    observed_at: datetime | None = None,
    place_name: str = "",
    latitude: Decimal | None = None,
    longitude: Decimal | None = None,
    notes: str = "",
    visibility: str = Visibility.PRIVATE,
    box: str | None = None,
) -> Sighting:
    """Identify and save in one step (the API). `species=None` records the species as unknown;
    `observed_at` defaults to the photo's EXIF date, else now. The photo's GPS is never used
    without being asked: pass `latitude`/`longitude` explicitly. `box` is the person's box, as
    `identify_photo` takes it; a bad box raises `InvalidBox` before anything is stored."""
    prepared = prepare_photo(data=data)
    identification = identify(image=prepared.image, box=box, original_size=prepared.original_size)
    sighting = _new_sighting(
        owner=owner,
        identified=identification.stored_fields(),
        species=species,
        observed_at=observed_at or prepared.taken_at or timezone.now(),
        place_name=place_name,
        latitude=latitude,
        longitude=longitude,
        notes=notes,
        visibility=visibility,
    )
    _save_with_file(sighting, "photo", prepared.content)
    return sighting


def update_sighting(*, sighting: Sighting, **fields) -> Sighting:
    """Change the editable fields of a sighting (validated; the photo never changes)."""
    unknown = set(fields) - EDITABLE_SIGHTING_FIELDS
    if unknown:
        raise TypeError(f"Fields that cannot be edited: {', '.join(sorted(unknown))}")
    for name, value in fields.items():
        if name in {"place_name", "notes"} and isinstance(value, str):
            value = value.strip()
        setattr(sighting, name, value)
    sighting.full_clean(exclude=["photo"])
    sighting.save(update_fields=[*fields, "updated_at"])
    return sighting


def delete_sighting(*, sighting: Sighting) -> None:
    """Delete the row now; its photo is removed from storage once the delete has committed."""
    with transaction.atomic():
        sighting.delete()


def cleanup_pending_photos(*, older_than: timedelta) -> int:
    """Delete photos identified but never saved for longer than `older_than`; returns how many."""
    cutoff = timezone.now() - older_than
    deleted = 0
    for pending in PendingPhoto.objects.filter(created_at__lt=cutoff).iterator():
        with transaction.atomic():
            pending.delete()
        deleted += 1
    return deleted


def load_species(*, data_dir: Path, photos_per_species: int = 3) -> LoadSpeciesReport:
    """Fill the gallery from a BIRDS-525-layout data set; re-running updates, never duplicates.

    Each species gets up to `photos_per_species` sample photos (copied to media storage under
    random keys); photos already copied are recognised by their path in the data set.
    """
    from ml.data import read_dataset

    dataset = read_dataset(data_dir)
    samples_by_species: dict[str, list] = {}
    for split in ("train", "valid", "test"):
        for sample in dataset.samples(split):
            samples_by_species.setdefault(sample.species, []).append(sample)
    existing = {s.name: s for s in Species.objects.prefetch_related("photos")}
    created = updated = unchanged = photos_added = 0
    with _files_removed_on_failure() as stored, transaction.atomic():
        for name in dataset.species:
            scientific_name = dataset.scientific_names.get(name, "").strip().capitalize()
            species = existing.get(name)
            if species is None:
                species = Species.objects.create(
                    name=name, scientific_name=scientific_name, slug=_unique_slug(name)
                )
                created += 1
            elif scientific_name and species.scientific_name != scientific_name:
                species.scientific_name = scientific_name
                species.save(update_fields=["scientific_name", "updated_at"])
                updated += 1
            else:
                unchanged += 1
            photos_added += _add_sample_photos(
                species=species,
                samples=samples_by_species.get(name, []),
                root=dataset.root,
                wanted=photos_per_species,
                stored=stored,
            )
    return LoadSpeciesReport(
        created=created, updated=updated, unchanged=unchanged, photos_added=photos_added
    )


def _unique_slug(name: str) -> str:
    base = slugify(name)[:130] or "species"
    slug, number = base, 2
    while Species.objects.filter(slug=slug).exists():
        slug, number = f"{base}-{number}", number + 1
    return slug


def _add_sample_photos(
    *, species: Species, samples: list, root: Path, wanted: int, stored: list[FieldFile]
) -> int:
    have = {p.source_name for p in species.photos.all()}
    missing = wanted - len(have)
    added = 0
    for sample in samples:
        if added >= missing:
            break
        source_name = sample.path.relative_to(root).as_posix()
        if source_name in have:
            continue
        photo = SpeciesPhoto(species=species, source_name=source_name, position=len(have) + added)
        _store(stored, photo.image, sample.path.name, sample.path.read_bytes())
        photo.save()
        added += 1
    return added
