"""Reads: who may see which sighting, the species catalogue, and photo URLs."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import date
from decimal import ROUND_HALF_UP, Decimal

from botocore.exceptions import BotoCoreError, ClientError
from django.contrib.auth.models import AnonymousUser
from django.db.models import Count, Prefetch, Q, QuerySet
from django.db.models.fields.files import FieldFile
from django.http import Http404

from accounts.models import User
from classifier.models import PendingPhoto, Sighting, Species, SpeciesPhoto, Visibility

logger = logging.getLogger(__name__)

# Others see a public sighting's place to about 10 km: enough to share, not enough to find a nest.
COARSE_PLACE_STEP = Decimal("0.1")


@dataclass(frozen=True)
class Place:
    name: str
    latitude: Decimal | None
    longitude: Decimal | None
    coarsened: bool

    def __bool__(self) -> bool:
        return bool(self.name) or self.latitude is not None


@dataclass(frozen=True)
class Suggestion:
    """One of the model's suggestions, joined with its gallery entry (None if not loaded)."""

    name: str
    probability: float
    species: Species | None

    @property
    def percent(self) -> int:
        return round(self.probability * 100)

    @property
    def display_name(self) -> str:
        return self.species.display_name if self.species else self.name.title()


def _with_first_photo(queryset: QuerySet[Species]) -> QuerySet[Species]:
    return queryset.prefetch_related(
        Prefetch("photos", queryset=SpeciesPhoto.objects.order_by("position"))
    )


def sightings_for_owner(
    *,
    owner: User,
    species: Species | None = None,
    date_from: date | None = None,
    date_to: date | None = None,
) -> QuerySet[Sighting]:
    """The owner's sightings, newest first, optionally of one species and within dates."""
    sightings = Sighting.objects.filter(owner=owner).select_related("species")
    if species is not None:
        sightings = sightings.filter(species=species)
    if date_from is not None:
        sightings = sightings.filter(observed_at__date__gte=date_from)
    if date_to is not None:
        sightings = sightings.filter(observed_at__date__lte=date_to)
    return sightings.order_by("-observed_at", "-id")


def get_visible_sighting(*, user: User | AnonymousUser, pk: int) -> Sighting:
    """A sighting its owner, or anybody when it is public, may see; 404 otherwise."""
    visible = Q(visibility=Visibility.PUBLIC)
    if user.is_authenticated:
        visible |= Q(owner=user)
    sighting = Sighting.objects.select_related("species", "owner").filter(visible, pk=pk).first()
    if sighting is None:
        raise Http404("No such sighting.")
    return sighting


def get_owned_sighting(*, owner: User | AnonymousUser, pk: int) -> Sighting:
    """A sighting to edit or delete: only its owner gets it, everybody else a 404."""
    if not owner.is_authenticated:
        raise Http404("No such sighting.")
    sighting = Sighting.objects.select_related("species").filter(owner=owner, pk=pk).first()
    if sighting is None:
        raise Http404("No such sighting.")
    return sighting


def get_pending_photo(
    *, pk, user: User | AnonymousUser, session_pending_ids: list[str]
) -> PendingPhoto:
    """An identified photo for whoever uploaded it: its owner, or the browser session that sent it
    (kept in the session data, which survives the key rotation at log-in and sign-up)."""
    pending = PendingPhoto.objects.filter(pk=pk).first()
    if pending is None:
        raise Http404("This photo is no longer waiting to be saved.")
    owned = user.is_authenticated and pending.owner_id == user.pk
    from_this_browser = str(pending.pk) in session_pending_ids and (
        pending.owner_id is None or owned
    )
    if not (owned or from_this_browser):
        raise Http404("This photo is no longer waiting to be saved.")
    return pending


def species_catalogue(*, query: str = "") -> QuerySet[Species]:
    """All species (with their sample photos), filtered by common or scientific name."""
    species = Species.objects.all()
    query = query.strip()
    if query:
        species = species.filter(Q(name__icontains=query) | Q(scientific_name__icontains=query))
    return _with_first_photo(species).order_by("name")


def get_species(*, slug: str) -> Species:
    species = (
        _with_first_photo(Species.objects.all())
        .annotate(sighting_count=Count("sightings"))
        .filter(slug=slug)
        .first()
    )
    if species is None:
        raise Http404("No such species.")
    return species


def find_species(*, text: str) -> Species | None:
    """The species a person typed: common name (any case) or scientific name."""
    text = " ".join(text.split())
    if not text:
        return None
    return Species.objects.filter(Q(name__iexact=text) | Q(scientific_name__iexact=text)).first()


def public_sightings_of(*, species: Species, limit: int = 12) -> QuerySet[Sighting]:
    """The most recent public sightings of a species."""
    return (
        Sighting.objects.filter(species=species, visibility=Visibility.PUBLIC)
        .select_related("owner", "species")
        .order_by("-observed_at", "-id")[:limit]
    )


def suggestions_with_species(*, suggestions: list[dict]) -> list[Suggestion]:
    """The stored top-k (`[{"species", "probability"}]`) joined with gallery entries."""
    names = [item["species"] for item in suggestions]
    species_by_name = {s.name: s for s in _with_first_photo(Species.objects.filter(name__in=names))}
    return [
        Suggestion(
            name=item["species"],
            probability=float(item["probability"]),
            species=species_by_name.get(item["species"]),
        )
        for item in suggestions
    ]


def place_for_viewer(*, sighting: Sighting, user: User | AnonymousUser) -> Place:
    """The owner sees the exact place; others see coordinates rounded to `COARSE_PLACE_STEP`."""
    if user.is_authenticated and sighting.owner_id == user.pk:
        return Place(sighting.place_name, sighting.latitude, sighting.longitude, coarsened=False)
    return Place(
        sighting.place_name,
        _coarsen(sighting.latitude),
        _coarsen(sighting.longitude),
        coarsened=sighting.latitude is not None,
    )


def _coarsen(value: Decimal | None) -> Decimal | None:
    if value is None:
        return None
    return (value / COARSE_PLACE_STEP).quantize(Decimal(1), rounding=ROUND_HALF_UP) * (
        COARSE_PLACE_STEP
    )


def photo_url(*, file: FieldFile | None) -> str:
    """Where the browser fetches a stored photo: a short-lived presigned URL on S3."""
    if not file or not file.name:
        return ""
    try:
        return file.url
    except (BotoCoreError, ClientError) as error:
        logger.warning("cannot sign photo URL: %s", error)
        return ""
