"""The life list: every species a person has logged, read live from their sightings (so it follows
every edit and deletion), with the totals per year and per month its charts draw."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime

from django.db import models
from django.utils import timezone

from accounts.models import User
from classifier.models import Sighting, Species
from classifier.selectors.sightings import sightings_for_owner


class LifeListSort(models.TextChoices):
    FIRST = "first", "First seen"
    NAME = "name", "Name"
    COUNT = "count", "Sightings"


@dataclass(frozen=True)
class LifeListEntry:
    species: Species
    first_seen: datetime
    last_seen: datetime
    sightings: int
    first_sighting: Sighting  # its place and photo stand for the species on the list


@dataclass(frozen=True)
class PeriodTotal:
    """One year or month (`start` is its first day, in the site's time zone): the sightings of
    identified birds, the species among them and those first seen then."""

    start: date
    sightings: int
    species: int
    new_species: int


@dataclass(frozen=True)
class LifeList:
    entries: list[LifeListEntry]
    years: list[PeriodTotal]  # every year from the first sighting's to the last's
    months: list[PeriodTotal]  # every month likewise


_SORT_KEYS = {
    LifeListSort.FIRST: lambda e: (e.first_seen, e.species.name),
    LifeListSort.NAME: lambda e: e.species.name,
    LifeListSort.COUNT: lambda e: (-e.sightings, e.species.name),
}


def life_list(*, owner: User, sort: LifeListSort = LifeListSort.FIRST) -> LifeList:
    """The owner's life list in `sort` order (unknown birds are on no list). Two queries."""
    seen = (
        sightings_for_owner(owner=owner)
        .filter(species__isnull=False)
        .order_by("observed_at", "id")
        .values_list("id", "species_id", "observed_at")
    )
    first_ids: dict[int, int] = {}
    first_seen: dict[int, datetime] = {}
    last_seen: dict[int, datetime] = {}
    counts: dict[int, int] = defaultdict(int)
    by_year: dict[date, list[int]] = defaultdict(list)
    by_month: dict[date, list[int]] = defaultdict(list)
    new_in_year: dict[date, int] = defaultdict(int)
    new_in_month: dict[date, int] = defaultdict(int)
    for pk, species_id, observed_at in seen:
        local = timezone.localtime(observed_at).date()
        year, month = local.replace(month=1, day=1), local.replace(day=1)
        if species_id not in first_ids:
            first_ids[species_id], first_seen[species_id] = pk, observed_at
            new_in_year[year] += 1
            new_in_month[month] += 1
        last_seen[species_id] = observed_at
        counts[species_id] += 1
        by_year[year].append(species_id)
        by_month[month].append(species_id)
    firsts = Sighting.objects.select_related("species").in_bulk(first_ids.values())
    entries = [
        LifeListEntry(
            species=firsts[pk].species,
            first_seen=first_seen[species_id],
            last_seen=last_seen[species_id],
            sightings=counts[species_id],
            first_sighting=firsts[pk],
        )
        for species_id, pk in first_ids.items()
    ]
    entries.sort(key=_SORT_KEYS[LifeListSort(sort)])
    return LifeList(
        entries=entries,
        years=_totals(by_year, new_in_year, step=_next_year),
        months=_totals(by_month, new_in_month, step=_next_month),
    )


def _totals(
    species_by_period: dict[date, list[int]],
    new: dict[date, int],
    *,
    step: Callable[[date], date],
) -> list[PeriodTotal]:
    """One `PeriodTotal` per period from the first to the last, empty periods included."""
    if not species_by_period:
        return []
    totals, start, end = [], min(species_by_period), max(species_by_period)
    while start <= end:
        ids = species_by_period.get(start, [])
        totals.append(PeriodTotal(start, len(ids), len(set(ids)), new.get(start, 0)))
        start = step(start)
    return totals


def _next_year(start: date) -> date:
    return start.replace(year=start.year + 1)


def _next_month(start: date) -> date:
    return (
        start.replace(year=start.year + 1, month=1)
        if start.month == 12
        else start.replace(month=start.month + 1)
    )
