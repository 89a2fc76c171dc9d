"""Site fixtures: users, real photos, sightings stored through the services, and the real model."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from django.test import Client
from django.utils import timezone
from django.utils.text import slugify

from classifier.active_model import reset_predictor
from classifier.models import PendingPhoto, Sighting, Species, Verdict, Visibility
from classifier.services import gallery, sightings
from classifier.uploads import prepare_photo
from core.storage import save_with_file
from tests.site.photos import jpeg_with_exif

PASSWORD = "a-long-test-password-41"
SPECIES = [
    ("ABBOTTS BABBLER", "Malacocincla abbotti"),
    ("BALD EAGLE", "Haliaeetus leucocephalus"),
    ("BARN OWL", "Tyto alba"),
]


def utc(text: str) -> datetime:
    """An ISO date and time as an aware UTC datetime."""
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


@pytest.fixture
def user(django_user_model):
    return django_user_model.objects.create_user("alice", "alice@example.org", PASSWORD)


@pytest.fixture
def other_user(django_user_model):
    return django_user_model.objects.create_user("bob", "bob@example.org", PASSWORD)


@pytest.fixture
def alice(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


@pytest.fixture
def bob(other_user) -> Client:
    client = Client()
    client.force_login(other_user)
    return client


@pytest.fixture
def species() -> list[Species]:
    return [
        Species.objects.get_or_create(
            name=name, defaults={"scientific_name": latin, "slug": slugify(name)}
        )[0]
        for name, latin in SPECIES
    ]


@pytest.fixture
def exif_photo(bird_photo: Path) -> bytes:
    """A real bird photo carrying a date and a GPS position in its EXIF."""
    return jpeg_with_exif(bird_photo)


@pytest.fixture
def make_pending(exif_photo: bytes) -> Callable[..., PendingPhoto]:
    """A photo waiting in the temporary area, as `identify_photo` leaves it (suggestions given
    as data: these tests are about storing and showing, not about the model)."""

    def make(*, owner=None, session_key: str = "", verdict: str = Verdict.BIRD) -> PendingPhoto:
        prepared = prepare_photo(data=exif_photo)
        pending = PendingPhoto(
            owner=owner,
            session_key=session_key,
            suggestions=[
                {"species": name, "probability": p}
                for (name, _), p in zip(SPECIES, (0.81, 0.12, 0.04), strict=True)
            ],
            verdict=verdict,
            model_version="test-version",
            taken_at=prepared.taken_at,
            latitude=prepared.latitude,
            longitude=prepared.longitude,
        )
        save_with_file(instance=pending, field_name="photo", content=prepared.content)
        return pending

    return make


@pytest.fixture
def make_sighting(make_pending, species) -> Callable[..., Sighting]:
    """A sighting saved through `save_pending_photo`, with its photo in media storage (of one
    of the three `species`, by index or None for unknown, or `of` any catalogue species)."""

    def make(
        *,
        owner,
        species_index: int | None = 0,
        of: Species | None = None,
        observed_at: datetime | None = None,
        count: int | None = None,
        visibility: str = Visibility.PRIVATE,
        latitude: str | None = "52.516312",
        longitude: str | None = "13.377734",
        place_name: str = "Tiergarten",
        notes: str = "",
    ) -> Sighting:
        return sightings.save_pending_photo(
            pending=make_pending(owner=owner),
            owner=owner,
            species=of or (None if species_index is None else species[species_index]),
            observed_at=observed_at or timezone.now() - timedelta(hours=1),
            count=count,
            place_name=place_name,
            latitude=latitude,
            longitude=longitude,
            notes=notes,
            visibility=visibility,
        )

    return make


@pytest.fixture
def no_active_model(settings, tmp_path: Path) -> Iterator[None]:
    """The site without any model: MODELS_DIR is empty."""
    settings.MODELS_DIR = tmp_path / "no-models"
    settings.MODELS_DIR.mkdir()
    reset_predictor()
    yield
    reset_predictor()


@pytest.fixture
def active_model(settings, tmp_path: Path, request) -> Iterator[Path]:
    """The ML engineer's small real model, served as the site's active model."""
    model_dir = request.getfixturevalue("small_model_dir")
    models_dir = tmp_path / "models"
    models_dir.mkdir()
    (models_dir / "active").symlink_to(model_dir, target_is_directory=True)
    settings.MODELS_DIR = models_dir
    reset_predictor()
    yield model_dir
    reset_predictor()


@pytest.fixture
def catalogue(shared_data: Path) -> None:
    """The whole BIRDS-525 catalogue, one sample photo per species."""
    gallery.load_species(data_dir=shared_data / "birds525", photos_per_species=1)
