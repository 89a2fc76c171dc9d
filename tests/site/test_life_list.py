"""The life list (/sightings/life-list/ and its selector): species with first and last dates, the
first place, counts, three orders, totals per year and month, the SVG charts; it follows edits
and deletions and shows only the owner's identified birds."""

from __future__ import annotations

import re
from datetime import date

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from classifier.charts import bar_chart
from classifier.models import Sighting
from classifier.selectors.life_list import LifeListSort, PeriodTotal, life_list
from classifier.services import sightings
from tests.site.conftest import utc

pytestmark = pytest.mark.django_db
URL = reverse("classifier:life_list")


@pytest.fixture
def log(user, other_user, make_sighting) -> dict[str, Sighting]:
    """Alice: a babbler twice, an eagle three times, an owl once, an unknown bird; Bob: an owl."""
    made = {
        "babbler-first": make_sighting(
            owner=user, observed_at=utc("2023-11-20T09:00:00"), place_name="Harbour"
        ),
        "babbler-last": make_sighting(owner=user, observed_at=utc("2024-02-03T09:00:00")),
        "owl": make_sighting(owner=user, species_index=2, observed_at=utc("2024-01-10T21:00:00")),
        "unknown": make_sighting(
            owner=user, species_index=None, observed_at=utc("2022-05-01T09:00:00")
        ),
    }
    for day in (5, 6, 7):
        made[f"eagle-{day}"] = make_sighting(
            owner=user, species_index=1, observed_at=utc(f"2024-02-0{day}T09:00:00")
        )
    make_sighting(owner=other_user, species_index=2, observed_at=utc("2021-01-01T09:00:00"))
    return made


def names(listing) -> list[str]:
    return [entry.species.name for entry in listing.entries]


def test_each_species_once_with_its_dates_place_and_count(user, log) -> None:
    with CaptureQueriesContext(connection) as queries:
        listing = life_list(owner=user)

    assert len(queries) == 2
    assert names(listing) == ["ABBOTTS BABBLER", "BARN OWL", "BALD EAGLE"]
    babbler = listing.entries[0]
    assert babbler.first_seen == utc("2023-11-20T09:00:00")
    assert babbler.last_seen == utc("2024-02-03T09:00:00")
    assert babbler.first_sighting == log["babbler-first"]
    assert babbler.first_sighting.place_name == "Harbour"
    assert [entry.sightings for entry in listing.entries] == [2, 1, 3]


def test_three_orders(user, log) -> None:
    assert names(life_list(owner=user, sort=LifeListSort.NAME)) == [
        "ABBOTTS BABBLER",
        "BALD EAGLE",
        "BARN OWL",
    ]
    assert names(life_list(owner=user, sort=LifeListSort.COUNT)) == [
        "BALD EAGLE",
        "ABBOTTS BABBLER",
        "BARN OWL",
    ]


def test_totals_per_year_and_month_include_empty_periods(user, log) -> None:
    listing = life_list(owner=user)

    assert listing.years == [
        PeriodTotal(date(2023, 1, 1), sightings=1, species=1, new_species=1),
        PeriodTotal(date(2024, 1, 1), sightings=5, species=3, new_species=2),
    ]
    assert [total.start for total in listing.months] == [
        date(2023, 11, 1),
        date(2023, 12, 1),
        date(2024, 1, 1),
        date(2024, 2, 1),
    ]
    assert listing.months[1] == PeriodTotal(date(2023, 12, 1), 0, 0, 0)
    assert listing.months[3] == PeriodTotal(date(2024, 2, 1), 4, 2, 1)


def test_periods_are_the_sites_local_ones(settings, user, make_sighting) -> None:
    settings.TIME_ZONE = "Pacific/Auckland"  # UTC+13 in summer: New Year's Eve is already 2025
    make_sighting(owner=user, observed_at=utc("2024-12-31T12:00:00"))

    assert [total.start for total in life_list(owner=user).years] == [date(2025, 1, 1)]


def test_it_follows_edits_and_deletions(user, species, log) -> None:
    sightings.update_sighting(sighting=log["owl"], species=species[0])
    listing = life_list(owner=user)
    assert names(listing) == ["ABBOTTS BABBLER", "BALD EAGLE"]
    assert listing.entries[0].sightings == 3

    sightings.delete_sighting(sighting=log["babbler-first"])
    babbler = life_list(owner=user).entries[0]
    assert babbler.first_sighting == log["owl"]  # now the oldest babbler
    assert babbler.first_seen == utc("2024-01-10T21:00:00")

    for key in ("eagle-5", "eagle-6", "eagle-7"):
        sightings.delete_sighting(sighting=log[key])
    assert names(life_list(owner=user)) == ["ABBOTTS BABBLER"]


def test_the_page_lists_sorts_and_draws_the_charts(alice, log) -> None:
    page = alice.get(URL)
    html = page.content.decode()

    assert page.status_code == 200
    assert "3 species" in html
    found = re.findall(r'class="life-list-name"><a href="[^"]+">([^<]+)</a>', html)
    assert found == ["Abbotts Babbler", "Barn Owl", "Bald Eagle"]
    assert "20 Nov 2023</time>, Harbour" in html
    assert html.count('<svg class="chart-svg"') == 2
    assert 'aria-labelledby="chart-years-title chart-years-desc"' in html
    assert '<desc id="chart-years-desc">2023: 1, 2024: 3</desc>' in html
    assert "Nov 2023: 1, Dec 2023: 0, Jan 2024: 1, Feb 2024: 2" in html
    assert html.count("<rect ") == 2 + 4
    by_count = alice.get(URL, {"sort": "count"}).content.decode()
    found = re.findall(r'class="life-list-name"><a href="[^"]+">([^<]+)</a>', by_count)
    assert found == ["Bald Eagle", "Abbotts Babbler", "Barn Owl"]
    assert 'href="?sort=count" aria-current="true"' in by_count


def test_a_bad_order_is_a_400_that_says_which_are_allowed(alice, log) -> None:
    page = alice.get(URL, {"sort": "wingspan"})

    assert page.status_code == 400
    assert "Sort by “first”, “name”, “count”; “wingspan” is not one of them." in page.text
    assert "3 species" in page.text  # still the list, in the first-seen order


def test_an_empty_list_says_so_and_draws_nothing(alice, user, make_sighting) -> None:
    make_sighting(owner=user, species_index=None)

    page = alice.get(URL).content.decode()

    assert "0 species" in page and "No species on your list yet" in page
    assert "<svg" not in page.split("</header>", 1)[1]


def test_the_page_needs_login(client) -> None:
    response = client.get(URL)
    assert response.status_code == 302 and "/accounts/login/" in response["Location"]


def test_a_long_chart_labels_every_nth_bar_from_the_last() -> None:
    chart = bar_chart(title="t", values=[(f"m{i}", i % 3) for i in range(24)])

    labelled = [bar.label for bar in chart.bars if bar.labelled]
    assert labelled == ["m3", "m7", "m11", "m15", "m19", "m23"]
    assert [bar.label for bar in chart.bars if bar.labelled and not bar.minor] == [
        "m7",
        "m15",
        "m23",
    ]
    tallest = max(chart.bars, key=lambda bar: bar.value)
    assert float(tallest.y) + float(tallest.height) == chart.baseline
    assert float(chart.bars[-1].x) + float(chart.bars[-1].width) < chart.width
