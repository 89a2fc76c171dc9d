""" "Seen near here": has a species been logged publicly near a place in a month of any year.

The answer is a yes or no for each suggestion, nothing more (no count, place or person), from one
query on the `classifier_sighting_nearby` index: the suggested species, the month and public
visibility by equality, a bounding box on latitude and longitude, then the exact great-circle
distance of the few rows inside the box, in SQL. The place asked about is first rounded like
the places others see (`COARSE_PLACE_STEP`, about 10 km), so the exact position never reaches
a query. docs/architecture.md, "Maps and seen near here", says why.
"""

from __future__ import annotations

import calendar
import math
from dataclasses import dataclass, replace
from datetime import datetime
from decimal import ROUND_CEILING, ROUND_FLOOR, Decimal

from django.db.models import F, FloatField, Q, Value
from django.db.models.functions import Cast, Cos, Radians, Sin
from django.utils import timezone

from classifier.models import Sighting, Visibility, local_month
from classifier.selectors.identification import SuggestedSpecies
from classifier.selectors.sightings import coarsen

# A species counts as seen near here when logged publicly within this distance.
NEAR_RADIUS_KM = 50.0
EARTH_RADIUS_KM = 6371.0088  # the mean radius
_ANGLE = NEAR_RADIUS_KM / EARTH_RADIUS_KM  # the radius as an angle at the centre, in radians
_MICRO_DEGREE = Decimal("0.000001")  # the coordinates' precision (classifier.models)


@dataclass(frozen=True)
class NearbyPlace:
    """The place and month a "seen near here" question is about (the place already rounded)."""

    latitude: Decimal
    longitude: Decimal
    month: int

    @property
    def month_name(self) -> str:
        return calendar.month_name[self.month]


def nearby_place(
    *, latitude: Decimal | None, longitude: Decimal | None, moment: datetime | None
) -> NearbyPlace | None:
    """The rounded place and the month (of `moment`, else of now) to ask about; None when no
    position is known (no mark then)."""
    if latitude is None or longitude is None:
        return None
    return NearbyPlace(
        latitude=coarsen(Decimal(latitude)),
        longitude=coarsen(Decimal(longitude)),
        month=local_month(moment or timezone.now()),
    )


def mark_seen_nearby(
    *,
    suggestions: list[SuggestedSpecies],
    place: NearbyPlace | None,
    excluding: Sighting | None = None,
) -> list[SuggestedSpecies]:
    """The suggestions with `seen_nearby` set (True/False), in the same order: they are marked,
    not re-ranked. Unchanged (None) without a place. `excluding` leaves out a sighting just
    saved, which should not answer for itself."""
    if place is None:
        return suggestions
    ids = {item.species.pk for item in suggestions if item.species is not None}
    seen = species_seen_near(species_ids=ids, place=place, excluding=excluding) if ids else set()
    return [
        replace(item, seen_nearby=item.species is not None and item.species.pk in seen)
        for item in suggestions
    ]


def species_seen_near(
    *, species_ids: set[int], place: NearbyPlace, excluding: Sighting | None = None
) -> set[int]:
    """Which of `species_ids` have a public sighting within `NEAR_RADIUS_KM` of `place` in its
    month (of any year): one query."""
    sightings = Sighting.objects.filter(
        _bounding_box(place),
        species_id__in=sorted(species_ids),
        observed_month=place.month,
        visibility=Visibility.PUBLIC,
    )
    if excluding is not None:
        sightings = sightings.exclude(pk=excluding.pk)
    latitude = math.radians(place.latitude)
    longitude = math.radians(place.longitude)
    row_latitude = Radians(Cast(F("latitude"), FloatField()))
    row_longitude = Radians(Cast(F("longitude"), FloatField()))
    # The cosine of the central angle between the place and the row (spherical law of cosines):
    # within the radius when it is at least cos(_ANGLE). No arccosine, so no rounding past 1.
    closeness = Value(math.sin(latitude)) * Sin(row_latitude) + Value(math.cos(latitude)) * Cos(
        row_latitude
    ) * Cos(row_longitude - Value(longitude))
    return set(
        sightings.alias(closeness=closeness)
        .filter(closeness__gte=math.cos(_ANGLE))
        .order_by()  # no default ordering: DISTINCT on the species alone
        .values_list("species_id", flat=True)
        .distinct()
    )


def _bounding_box(place: NearbyPlace) -> Q:
    """Latitude and longitude ranges holding every point within the radius (wider, never
    narrower: the exact check follows), split in two across the antimeridian."""
    span = Decimal(math.degrees(_ANGLE))
    south = max(place.latitude - span, Decimal(-90)).quantize(_MICRO_DEGREE, ROUND_FLOOR)
    north = min(place.latitude + span, Decimal(90)).quantize(_MICRO_DEGREE, ROUND_CEILING)
    box = Q(latitude__gte=south, latitude__lte=north)
    if abs(place.latitude) + span >= 90:  # the circle holds a pole: every longitude
        return box
    # The widest longitude difference on a spherical cap: asin(sin(r) / cos(latitude)).
    width = Decimal(
        math.degrees(math.asin(math.sin(_ANGLE) / math.cos(math.radians(place.latitude))))
    )
    west = (place.longitude - width).quantize(_MICRO_DEGREE, ROUND_FLOOR)
    east = (place.longitude + width).quantize(_MICRO_DEGREE, ROUND_CEILING)
    if west < -180:
        return box & (Q(longitude__gte=west + 360) | Q(longitude__lte=east))
    if east > 180:
        return box & (Q(longitude__gte=west) | Q(longitude__lte=east - 360))
    return box & Q(longitude__gte=west, longitude__lte=east)
