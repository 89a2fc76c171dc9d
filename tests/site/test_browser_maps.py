"""Maps in real headless Chromium (slow), tiles off and every request not to the test server
blocked: markers for exactly the right sightings (mine on My sightings; public ones on a species
page), a popup linking to the sighting, the place picker filling the form (the EXIF position
shown first); screenshots at 1280 and 375 px, axe-core without serious or critical violations."""

from __future__ import annotations

from decimal import Decimal

import pytest

from classifier.models import Sighting, Visibility
from tests.site.conftest import utc
from tests.site.test_browser import (  # noqa: F401  (fixtures and helpers of the browser tests)
    DESKTOP,
    browser,
    check_page,
    origin_of,
    page_origins,
    screenshots,
    sign_up,
)

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True)]


def site_only_page(browser, base_url: str, outside: list[str]):  # noqa: F811
    """A desktop page whose requests outside the test server (and the photo bucket) are refused
    and recorded."""
    page = browser.new_page(viewport=DESKTOP)
    allowed = page_origins(base_url)

    def route(request_route) -> None:
        if origin_of(request_route.request.url) in allowed:
            request_route.continue_()
        else:
            outside.append(request_route.request.url)
            request_route.abort()

    page.route("**/*", route)
    return page


def marker_labels(page, scope: str = "[data-map]") -> list[str]:
    page.wait_for_selector(f"{scope}.leaflet-container")
    return sorted(
        page.locator(f"{scope} img.leaflet-marker-icon").evaluate_all(
            "icons => icons.map(icon => icon.alt)"
        )
    )


def test_maps_show_the_right_sightings_and_the_picker_fills_the_form(
    browser,  # noqa: F811 (the imported fixture)
    live_server,
    make_sighting,
    make_pending,
    screenshots,  # noqa: F811 (the imported fixture)
    django_user_model,
    other_user,
    species,
) -> None:
    outside: list[str] = []
    page = site_only_page(browser, live_server.url, outside)
    page.goto(f"{live_server.url}/accounts/signup/")
    sign_up(page, live_server.url, "erin")
    page.wait_for_url(f"{live_server.url}/")
    erin = django_user_model.objects.get(username="erin")

    mine = make_sighting(
        owner=erin,
        observed_at=utc("2024-05-04T07:00:00"),
        latitude="51.123456",
        longitude="-0.654321",
    )
    make_sighting(
        owner=erin,
        species_index=2,
        observed_at=utc("2024-06-01T07:00:00"),
        visibility=Visibility.PUBLIC,
    )
    make_sighting(owner=erin, species_index=1, latitude=None, longitude=None)  # no place
    make_sighting(
        owner=other_user,
        observed_at=utc("2023-05-01T07:00:00"),
        latitude="48.1",
        longitude="11.6",
        visibility=Visibility.PUBLIC,
    )
    make_sighting(owner=other_user, latitude="45.0", longitude="7.0")  # bob's private one

    # My sightings: exactly mine with a place.
    page.click("nav >> text=My sightings")
    page.wait_for_url("**/sightings/")
    assert marker_labels(page) == ["Abbotts Babbler, 4 May 2024", "Barn Owl, 1 Jun 2024"]
    assert page.locator(".leaflet-tile").count() == 0
    page.locator("img.leaflet-marker-icon[alt^='Abbotts Babbler']").click()
    popup = page.locator(".leaflet-popup-content a")
    assert popup.inner_text() == "Abbotts Babbler, 4 May 2024"
    assert popup.get_attribute("href") == f"/sightings/{mine.pk}/"
    check_page(page, screenshots, "map-my-sightings")

    # A species page, as a visitor: the public sightings of the species (mine and bob's).
    visitor = site_only_page(browser, live_server.url, outside)
    visitor.goto(f"{live_server.url}/species/{species[0].slug}/")
    assert marker_labels(visitor) == ["Abbotts Babbler, 1 May 2023"]
    check_page(visitor, screenshots, "map-species")
    page.goto(f"{live_server.url}/species/{species[2].slug}/")
    assert marker_labels(page) == ["Barn Owl, 1 Jun 2024"]

    # Logging a photo: the EXIF position shows on the picker; a click moves it into the form.
    pending = make_pending(owner=erin)
    page.goto(f"{live_server.url}/identify/{pending.pk}/")
    picker = "[data-place-picker]"
    page.wait_for_selector(f"{picker}.leaflet-container")
    assert page.locator(f"{picker} img.leaflet-marker-icon").count() == 1
    exif_latitude = float(page.input_value("#id_latitude"))
    exif_longitude = float(page.input_value("#id_longitude"))
    assert (round(exif_latitude, 3), round(exif_longitude, 3)) == (52.516, 13.378)
    check_page(page, screenshots, "map-place-picker")
    page.locator(picker).scroll_into_view_if_needed()
    box = page.locator(picker).bounding_box()
    page.mouse.click(box["x"] + box["width"] / 2 + 120, box["y"] + box["height"] / 2 - 40)
    picked = float(page.input_value("#id_latitude")), float(page.input_value("#id_longitude"))
    assert picked[0] > exif_latitude and picked[1] > exif_longitude  # north-east of the photo
    assert abs(picked[0] - exif_latitude) < 1 and abs(picked[1] - exif_longitude) < 1
    page.click("form.sighting-form button[type=submit]")
    page.wait_for_url("**/sightings/*/")
    saved = Sighting.objects.get(owner=erin, pk=int(page.url.rstrip("/").rsplit("/", 1)[1]))
    assert (saved.latitude, saved.longitude) == (
        Decimal(f"{picked[0]:.6f}"),
        Decimal(f"{picked[1]:.6f}"),
    )
    assert outside == []
