"""Reads of sightings: who may see which one, at what precision, and the owner's log."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date
from decimal import ROUND_HALF_UP, Decimal

from django.contrib.auth.models import AnonymousUser
from django.db.models import Q, QuerySet
from django.utils import timezone

from accounts.models import User
from classifier.models import BoxMixin, Sighting, Species, Visibility

# Others see a public sighting's place to about 10 km: enough to share, not enough to find a nest.
COARSE_PLACE_STEP = Decimal("0.1")

# A map shows at most this many sightings (the newest with a place).
MAP_MARKER_LIMIT = 500

# The columns of the log export, in order (the box in pixels of the original upright photo).
EXPORT_COLUMNS = (
    "id",
    "observed_at",
    "species",
    "scientific_name",
    "count",
    "verdict",
    "top_suggestion",
    "top_probability",
    "model_version",
    "place_name",
    "latitude",
    "longitude",
    "visibility",
    "notes",
    "created_at",
    *BoxMixin.FIELDS,
)


@dataclass(frozen=True)
class Place:
    name: str
    latitude: Decimal | None
    longitude: Decimal | None
    coarsened: bool

    def __bool__(self) -> bool:
        return bool(self.name) or self.latitude is not None


@dataclass(frozen=True)
class MapPoint:
    """A sighting on a map, at the place its viewer may see (`place_for_viewer`)."""

    pk: int
    latitude: float
    longitude: float
    label: str


def map_points(*, sightings: QuerySet[Sighting], user: User | AnonymousUser) -> list[MapPoint]:
    """The newest `MAP_MARKER_LIMIT` of `sightings` that have a place, for `user` to see."""
    points = []
    for sighting in sightings.filter(latitude__isnull=False).order_by("-observed_at", "-id")[
        :MAP_MARKER_LIMIT
    ]:
        place = place_for_viewer(sighting=sighting, user=user)
        name = sighting.species.display_name if sighting.species else "Unknown bird"
        points.append(
            MapPoint(
                pk=sighting.pk,
                latitude=float(place.latitude),
                longitude=float(place.longitude),
                label=f"{name}, {timezone.localtime(sighting.observed_at):%-d %b %Y}",
            )
        )
    return points


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


def export_rows(*, owner: User) -> Iterator[tuple]:
    """The owner's whole log as rows of `EXPORT_COLUMNS` (None where a value is missing)."""
    for sighting in sightings_for_owner(owner=owner):
        top = sighting.suggestions[0] if sighting.suggestions else {}
        species = sighting.species
        yield (
            sighting.pk,
            sighting.observed_at.isoformat(),
            species.display_name if species else None,
            species.scientific_name if species else None,
            sighting.count,
            sighting.verdict,
            top.get("species"),
            top.get("probability"),
            sighting.model_version,
            sighting.place_name,
            sighting.latitude,
            sighting.longitude,
            sighting.visibility,
            sighting.notes,
            sighting.created_at.isoformat(),
            *(getattr(sighting, name) for name in BoxMixin.FIELDS),
        )


def get_visible_sighting(*, user: User | AnonymousUser, pk: int) -> Sighting | None:
    """A sighting its owner, or anybody when it is public, may see; None otherwise."""
    visible = Q(visibility=Visibility.PUBLIC)
    if user.is_authenticated:
        visible |= Q(owner=user)
    return Sighting.objects.select_related("species", "owner").filter(visible, pk=pk).first()


def get_owned_sighting(*, owner: User | AnonymousUser, pk: int) -> Sighting | None:
    """A sighting to edit or delete: only its owner gets it; None for everybody else."""
    if not owner.is_authenticated:
        return None
    return Sighting.objects.select_related("species").filter(owner=owner, pk=pk).first()


def place_for_viewer(*, sighting: Sighting, user: User | AnonymousUser) -> Place:
    """The owner sees the exact place; others see coordinates rounded to `COARSE_PLACE_STEP`."""
    if user.is_authenticated and sighting.owner_id == user.pk:
        return Place(sighting.place_name, sighting.latitude, sighting.longitude, coarsened=False)
    return Place(
        sighting.place_name,
        coarsen(sighting.latitude),
        coarsen(sighting.longitude),
        coarsened=sighting.latitude is not None,
    )


def coarsen(value: Decimal | None) -> Decimal | None:
    """A coordinate rounded to `COARSE_PLACE_STEP` (about 10 km)."""
    if value is None:
        return None
    return (value / COARSE_PLACE_STEP).quantize(Decimal(1), rounding=ROUND_HALF_UP) * (
        COARSE_PLACE_STEP
    )
