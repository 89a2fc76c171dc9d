"""The life list in real headless Chromium (slow): its SVG charts drawn, the three orders, a
deletion taking a species off, screenshots at 1280 px and 375 px, axe-core without serious or
critical violations."""

from __future__ import annotations

import pytest

from tests.site.conftest import utc
from tests.site.test_browser import (  # noqa: F401  (fixtures and helpers of the browser tests)
    browser,
    check_page,
    screenshots,
    signed_up_page,
)

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True)]


def shown_names(page) -> list[str]:
    return page.locator(".life-list-name > a").all_inner_texts()


def test_birder_reads_sorts_and_shrinks_the_life_list(
    browser,  # noqa: F811 (the imported fixture)
    live_server,
    make_sighting,
    screenshots,  # noqa: F811 (the imported fixture)
    django_user_model,
) -> None:
    page, dana = signed_up_page(browser, live_server.url, "dana", django_user_model)
    make_sighting(owner=dana, observed_at=utc("2023-06-01T07:00:00"), place_name="Old quay")
    for month in (1, 2, 3):
        make_sighting(owner=dana, species_index=1, observed_at=utc(f"2024-0{month}-10T07:00:00"))
    owl = make_sighting(owner=dana, species_index=2, observed_at=utc("2024-03-20T22:00:00"))

    page.click("nav >> text=Life list")
    page.wait_for_url("**/sightings/life-list/")
    assert page.locator("[data-life-list-total]").inner_text() == "3 species"
    assert page.locator("svg.chart-svg").count() == 2
    assert page.locator("[data-chart=chart-years] rect").count() == 2  # 2023 and 2024
    assert page.locator("[data-chart=chart-months] rect").count() == 10  # Jun 2023 to Mar 2024
    assert page.locator("[data-chart=chart-years] rect").first.bounding_box()["height"] > 0
    assert shown_names(page) == ["Abbotts Babbler", "Bald Eagle", "Barn Owl"]
    check_page(page, screenshots, "life-list")

    page.click(".sort-links >> text=Sightings")
    page.wait_for_url("**/life-list/?sort=count")
    assert shown_names(page) == ["Bald Eagle", "Abbotts Babbler", "Barn Owl"]
    page.click(".sort-links >> text=Name")
    page.wait_for_url("**/life-list/?sort=name")
    assert shown_names(page) == ["Abbotts Babbler", "Bald Eagle", "Barn Owl"]
    check_page(page, screenshots, "life-list-by-name")

    # The owl's only sighting, deleted from its page: the owl leaves the list.
    page.locator(".life-list-item", has_text="Barn Owl").locator(".life-list-photo").click()
    page.wait_for_url(f"**/sightings/{owl.pk}/")
    page.click("main >> text=Delete")
    page.click("form >> button:has-text('Delete')")
    page.wait_for_url("**/sightings/")
    page.click("nav >> text=Life list")
    page.wait_for_url("**/sightings/life-list/")
    assert page.locator("[data-life-list-total]").inner_text() == "2 species"
    assert shown_names(page) == ["Abbotts Babbler", "Bald Eagle"]
