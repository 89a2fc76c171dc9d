""" "Seen near here" on many sightings: the one query of `classifier.selectors.nearby` timed on a
throwaway database filled with `--rows` sightings (100,000 by default) of the 525 species.

    DATABASE_URL=postgres://... python -m benchmarks.seen_nearby [--rows N] [--queries N]
        [--output var/benchmarks/seen-nearby.json]

Half the rows are spread over the world, half within about 300 km of the place asked about
(Berlin), species drawn with a long tail (a few common, most rare), months and visibility mixed.
Each query asks for 5 species (a common one among them) in a month. Prints and saves JSON: the
median, 95th percentile and worst time of a query, the rows, and the database's plan for it
(PostgreSQL `EXPLAIN ANALYZE`, SQLite `EXPLAIN QUERY PLAN`). The database is dropped afterwards.
"""

from __future__ import annotations

import argparse
import os
import random
import statistics
import time
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path

from benchmarks.throwaway import run_on_throwaway_database, setup_django

REPO = Path(__file__).resolve().parent.parent
SPECIES = 525
PLACE = (Decimal("52.516312"), Decimal("13.377734"))  # Berlin


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--queries", type=int, default=300)
    parser.add_argument("--output", type=Path, default=REPO / "var/benchmarks/seen-nearby.json")
    args = parser.parse_args(argv)
    setup_django()
    return run_on_throwaway_database(
        name=f"bench_seen_nearby_{os.getpid()}",
        run=lambda: _run(rows=args.rows, queries=args.queries),
        output=args.output,
    )


def _run(*, rows: int, queries: int) -> dict:
    from django.contrib.auth import get_user_model
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    from classifier.models import Sighting, Species, Verdict, Visibility
    from classifier.selectors.nearby import nearby_place, species_seen_near

    rng = random.Random(22)
    owners = [get_user_model().objects.create_user(f"birder{n}", password=None) for n in range(20)]
    species = Species.objects.bulk_create(
        Species(name=f"SPECIES {n}", slug=f"species-{n}") for n in range(SPECIES)
    )
    weights = [1 / (rank + 1) for rank in range(SPECIES)]  # Zipf: a few common, most rare
    start = datetime(2015, 1, 1, tzinfo=UTC)

    def sighting() -> Sighting:
        if rng.random() < 0.5:
            latitude, longitude = rng.uniform(-60, 70), rng.uniform(-180, 180)
        else:
            latitude = float(PLACE[0]) + rng.uniform(-2.7, 2.7)
            longitude = float(PLACE[1]) + rng.uniform(-4.4, 4.4)
        observed_at = start + timedelta(minutes=rng.randrange(10 * 365 * 24 * 60))
        return Sighting(
            owner=rng.choice(owners),
            photo="sightings/bench.jpg",
            model_version="bench",
            verdict=Verdict.BIRD,
            species=rng.choices(species, weights)[0],
            observed_at=observed_at,
            observed_month=observed_at.month,
            latitude=Decimal(f"{latitude:.6f}"),
            longitude=Decimal(f"{longitude:.6f}"),
            visibility=Visibility.PUBLIC if rng.random() < 0.6 else Visibility.PRIVATE,
        )

    began = time.perf_counter()
    Sighting.objects.bulk_create((sighting() for _ in range(rows)), batch_size=5000)
    load_seconds = time.perf_counter() - began
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE")  # both databases: statistics for the planner

    def ask() -> tuple:
        """5 species (one of the 3 commonest among them) and a month."""
        month = rng.randint(1, 12)
        chosen = {species[rng.randrange(3)].pk, *(s.pk for s in rng.sample(species, 4))}
        place = nearby_place(
            latitude=PLACE[0], longitude=PLACE[1], moment=datetime(2024, month, 15, tzinfo=UTC)
        )
        return chosen, place

    for _ in range(20):  # warm the cache and the connection
        chosen, place = ask()
        species_seen_near(species_ids=chosen, place=place)
    times, answers = [], []
    for _ in range(queries):
        chosen, place = ask()
        began = time.perf_counter()
        seen = species_seen_near(species_ids=chosen, place=place)
        times.append((time.perf_counter() - began) * 1000)
        answers.append(len(seen))
    chosen, place = ask()
    with CaptureQueriesContext(connection) as captured:
        species_seen_near(species_ids=chosen, place=place)
    (query,) = captured.captured_queries
    explain = "EXPLAIN ANALYZE" if connection.vendor == "postgresql" else "EXPLAIN QUERY PLAN"
    with connection.cursor() as cursor:
        cursor.execute(f"{explain} {query['sql']}")
        plan = [" ".join(str(part) for part in row) for row in cursor.fetchall()]
    times.sort()
    return {
        "database": connection.vendor,
        "server_version": _server_version(connection),
        "rows": rows,
        "queries": queries,
        "species_per_query": 5,
        "load_seconds": round(load_seconds, 1),
        "query_ms": {
            "median": round(statistics.median(times), 3),
            "p95": round(times[int(len(times) * 0.95) - 1], 3),
            "max": round(times[-1], 3),
        },
        "mean_species_seen": round(statistics.mean(answers), 2),
        "uses_index": any("classifier_sighting_nearby" in line for line in plan),
        "plan": plan,
    }


def _server_version(connection) -> str:
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            cursor.execute("SHOW server_version")
        else:
            cursor.execute("SELECT sqlite_version()")
        return str(cursor.fetchone()[0])


if __name__ == "__main__":
    main()
