""" "Seen near here": yes within 50 km in the month of any year, no outside or in another month,
private sightings never count, no position means no mark; one query, through the index."""

from __future__ import annotations

from decimal import Decimal

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from classifier.models import Sighting, Visibility
from classifier.selectors.identification import suggestions_with_species
from classifier.selectors.nearby import mark_seen_nearby, nearby_place, species_seen_near
from classifier.services.sightings import update_sighting
from tests.site.conftest import SPECIES, utc

pytestmark = pytest.mark.django_db

# Berlin's Tiergarten; 0.45 degrees of latitude is 50 km.
HERE = (Decimal("52.516312"), Decimal("13.377734"))
JUNE = utc("2023-06-14T08:00:00")


def suggestions():
    return suggestions_with_species(
        suggestions=[{"species": name, "probability": 0.3} for name, _ in SPECIES]
    )


def marks(*, latitude=HERE[0], longitude=HERE[1], moment=JUNE) -> list[bool | None]:
    place = nearby_place(latitude=latitude, longitude=longitude, moment=moment)
    return [item.seen_nearby for item in mark_seen_nearby(suggestions=suggestions(), place=place)]


def log(make_sighting, owner, *, index=0, at="2021-06-02T12:00:00", where=HERE, public=True):
    return make_sighting(
        owner=owner,
        species_index=index,
        observed_at=utc(at),
        latitude=str(where[0]),
        longitude=str(where[1]),
        visibility=Visibility.PUBLIC if public else Visibility.PRIVATE,
    )


def test_a_public_sighting_within_50_km_in_the_month_of_another_year_marks_its_species(
    make_sighting, other_user
) -> None:
    # 40 km north (0.36 degrees), two years earlier, in June.
    log(make_sighting, other_user, index=1, where=(HERE[0] + Decimal("0.36"), HERE[1]))
    assert marks() == [False, True, False]


def test_no_mark_outside_the_radius_in_another_month_or_for_private_sightings(
    make_sighting, other_user
) -> None:
    log(make_sighting, other_user, index=0, where=(HERE[0] + Decimal("0.5"), HERE[1]))  # 56 km
    log(make_sighting, other_user, index=1, at="2023-07-01T12:00:00")  # July
    log(make_sighting, other_user, index=2, public=False)  # private, right here
    assert marks() == [False, False, False]


def test_the_distance_is_a_great_circle_not_the_box(make_sighting, other_user) -> None:
    # Inside the bounding box's corner (0.4 degrees north and east) but 58 km away.
    log(make_sighting, other_user, where=(HERE[0] + Decimal("0.4"), HERE[1] + Decimal("0.6")))
    assert marks()[0] is False
    # The place asked about is rounded to 0.1 degree first: 13.377734 -> 13.4.
    log(make_sighting, other_user, where=(HERE[0], HERE[1] + Decimal("0.1")))
    assert marks()[0] is True


def test_across_the_antimeridian_and_near_a_pole(make_sighting, other_user) -> None:
    log(make_sighting, other_user, index=0, where=(Decimal("-16.8"), Decimal("179.9")))
    log(make_sighting, other_user, index=1, where=(Decimal("89.9"), Decimal("-170")))
    assert marks(latitude=Decimal("-16.8"), longitude=Decimal("-179.9"))[0] is True
    assert marks(latitude=Decimal("89.8"), longitude=Decimal("10"))[1] is True


def test_no_position_no_mark(make_sighting, other_user) -> None:
    log(make_sighting, other_user)
    assert nearby_place(latitude=None, longitude=None, moment=JUNE) is None
    assert marks(latitude=None, longitude=None) == [None, None, None]


def test_it_is_one_query_for_every_suggestion(make_sighting, other_user) -> None:
    log(make_sighting, other_user)
    place = nearby_place(latitude=HERE[0], longitude=HERE[1], moment=JUNE)
    suggested = suggestions()  # the catalogue is read once per worker, not per answer
    with CaptureQueriesContext(connection) as queries:
        mark_seen_nearby(suggestions=suggested, place=place)
    assert len(queries) == 1


def test_the_month_follows_edits(make_sighting, other_user) -> None:
    sighting = log(make_sighting, other_user)
    assert sighting.observed_month == 6
    update_sighting(sighting=sighting, observed_at=utc("2022-01-05T12:00:00"))
    assert Sighting.objects.get(pk=sighting.pk).observed_month == 1


def _plan(sql: str) -> str:
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            cursor.execute("ANALYZE classifier_sighting")
            cursor.execute(f"EXPLAIN {sql}")
        else:
            cursor.execute(f"EXPLAIN QUERY PLAN {sql}")
        return "\n".join(" ".join(str(part) for part in row) for row in cursor.fetchall())


def test_the_query_uses_the_nearby_index(make_sighting, other_user) -> None:
    """The query as run, explained: PostgreSQL's `EXPLAIN` (after ANALYZE, among 3,000 rows of
    other species, months and places), SQLite's `EXPLAIN QUERY PLAN`."""
    seen = log(make_sighting, other_user)
    Sighting.objects.bulk_create(
        Sighting(
            owner=other_user,
            photo=seen.photo.name,
            model_version=seen.model_version,
            verdict=seen.verdict,
            species_id=seen.species_id if n % 50 == 0 else None,
            observed_at=JUNE,
            observed_month=1 + n % 12,
            latitude=Decimal(n % 90),
            longitude=Decimal(n % 180),
            visibility=Visibility.PUBLIC if n % 2 else Visibility.PRIVATE,
        )
        for n in range(3000)
    )
    place = nearby_place(latitude=HERE[0], longitude=HERE[1], moment=JUNE)
    with CaptureQueriesContext(connection) as queries:
        assert species_seen_near(species_ids={seen.species_id}, place=place) == {seen.species_id}
    (query,) = queries.captured_queries
    plan = _plan(query["sql"])
    assert "classifier_sighting_nearby" in plan, plan
    assert "Seq Scan" not in plan and "SCAN classifier_sighting" not in plan, plan
