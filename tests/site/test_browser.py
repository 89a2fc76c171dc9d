"""The site in real headless Chromium: identify, confirm, log, gallery, the anonymous path,
screenshots at 1280 px and 375 px, and axe-core accessibility checks (slow)."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from django.db import connections

from classifier.active_model import get_predictor
from classifier.models import Sighting
from core.storage import photo_origin
from tests.conftest import REPO
from tests.site.photos import non_bird_jpeg

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True)]

CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-background-networking",
    "--disable-gpu",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
AXE = REPO / "node_modules" / "axe-core" / "axe.min.js"
DESKTOP = {"width": 1280, "height": 900}
PHONE = {"width": 375, "height": 780}
PASSWORD = "a-long-test-password-41"


@pytest.fixture
def browser(monkeypatch) -> Iterator:
    from playwright.sync_api import sync_playwright

    # Playwright's sync API runs an event loop in this thread, next to Django's ORM calls.
    monkeypatch.setenv("DJANGO_ALLOW_ASYNC_UNSAFE", "true")
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path="/usr/bin/chromium", args=CHROMIUM_ARGS
        )
        yield browser
        browser.close()
        # While the loop runs, the ORM keys its connections to the loop's context: a query the
        # test made here opened a connection of its own, which would outlive the test database.
        connections.close_all()


def origin_of(url: str) -> str:
    return "{0.scheme}://{0.netloc}".format(urlsplit(url))


def page_origins(base_url: str) -> set[str]:
    """What a page may fetch from: the test server and, with photos on S3, the bucket's
    endpoint (presigned photo URLs; the policy allows that origin too)."""
    return {origin_of(base_url), photo_origin()} - {""}


@pytest.fixture
def screenshots(artifacts_dir: Path) -> Path:
    path = artifacts_dir / "screenshots"
    path.mkdir(parents=True, exist_ok=True)
    return path


def check_page(page, screenshots: Path, name: str) -> None:
    """Screenshot the page at desktop and phone width; no serious axe violations, no sideways
    scrolling on the phone."""
    for label, size in (("desktop", DESKTOP), ("375", PHONE)):
        page.set_viewport_size(size)
        page.screenshot(path=str(screenshots / f"{name}-{label}.png"), full_page=True)
        if label == "375":
            overflow = page.evaluate("document.documentElement.scrollWidth - window.innerWidth")
            assert overflow <= 0, f"{name} scrolls sideways on a phone by {overflow}px"
    page.set_viewport_size(DESKTOP)
    # Evaluated through the browser's debugging protocol: the page's policy refuses an inline
    # <script> tag, as it should, and it stays on for the page's own scripts.
    page.evaluate(AXE.read_text())
    result = page.evaluate("axe.run()")
    serious = [
        f"{v['id']}: {v['help']} ({len(v['nodes'])} nodes)"
        for v in result["violations"]
        if v["impact"] in ("serious", "critical")
    ]
    assert not serious, f"{name}: {serious}"


def sign_up(page, base_url: str, username: str) -> None:
    page.fill("#id_username", username)
    page.fill("#id_email", f"{username}@example.org")
    page.fill("#id_password1", PASSWORD)
    page.fill("#id_password2", PASSWORD)
    page.click("form button[type=submit]")


def signed_up_page(browser, base_url: str, username: str, user_model) -> tuple:
    """A desktop page of a person who just signed up through the form, and their account."""
    page = browser.new_page(viewport=DESKTOP)
    page.goto(f"{base_url}/accounts/signup/")
    sign_up(page, base_url, username)
    page.wait_for_url(f"{base_url}/")
    return page, user_model.objects.get(username=username)


def upload(page, photo: Path) -> None:
    page.set_input_files("#photo-input", str(photo))
    page.click("[data-submit]")
    page.wait_for_url("**/identify/**")


def test_birder_identifies_confirms_and_browses(
    browser, live_server, active_model, catalogue, held_out_photo, screenshots, tmp_path
) -> None:
    photo_path, species_name = held_out_photo
    display_name = species_name.title()
    page = browser.new_page(viewport=DESKTOP)

    page.goto(f"{live_server.url}/accounts/signup/")
    check_page(page, screenshots, "signup")
    sign_up(page, live_server.url, "alice")
    page.wait_for_url(f"{live_server.url}/")
    check_page(page, screenshots, "identify")

    upload(page, Path(photo_path))
    suggestions = page.locator(".suggestions .suggestion-name").all_inner_texts()
    assert display_name in suggestions
    check_page(page, screenshots, "suggestions")

    page.locator(".suggestion label", has_text=display_name).click()
    page.fill("#id_place_name", "Riverside path")
    page.click("text=Save sighting")
    page.wait_for_url("**/sightings/*/")
    assert page.locator("h1").inner_text() == display_name
    check_page(page, screenshots, "sighting")

    page.click("nav >> text=My sightings")
    assert page.locator(".sighting-card-name").all_inner_texts() == [display_name]
    check_page(page, screenshots, "my-sightings")

    page.locator(".sighting-card a").first.click()
    page.click(f"h1 >> text={display_name}")
    page.wait_for_url("**/species/*/")
    assert "1 sighting" in page.locator(".stat").inner_text()
    check_page(page, screenshots, "species")

    page.click("nav >> text=Species")
    page.fill("#species-search", "eagle")
    page.press("#species-search", "Enter")
    page.wait_for_url("**/species/?q=eagle")
    names = page.locator(".species-card-name").all_inner_texts()
    assert "Bald Eagle" in names and all("Eagle" in name for name in names)
    check_page(page, screenshots, "gallery-search")

    coffee = tmp_path / "coffee.jpg"
    coffee.write_bytes(non_bird_jpeg())
    page.goto(f"{live_server.url}/")
    upload(page, coffee)
    assert page.locator("h1").inner_text() == "No bird recognised"
    check_page(page, screenshots, "no-bird")

    page.click("nav >> text=About")
    assert get_predictor().version in page.locator(".details").inner_text()
    check_page(page, screenshots, "about")
    assert Sighting.objects.count() == 1


def test_anonymous_visitor_identifies_signs_up_and_saves(
    browser, live_server, active_model, catalogue, held_out_photo, screenshots
) -> None:
    photo_path, species_name = held_out_photo
    page = browser.new_page(viewport=PHONE)
    page.goto(f"{live_server.url}/")
    upload(page, Path(photo_path))
    pending_url = page.url
    assert species_name.title() in page.locator(".suggestions").inner_text()
    page.screenshot(path=str(screenshots / "anonymous-suggestions-375.png"), full_page=True)

    page.click(".callout >> text=Sign up")
    sign_up(page, live_server.url, "walker")
    page.wait_for_url(pending_url)
    page.click("text=Save sighting")
    page.wait_for_url("**/sightings/*/")

    sighting = Sighting.objects.get()
    assert sighting.owner.username == "walker"
    assert os.path.basename(page.url.rstrip("/")) == str(sighting.pk)


def test_pages_are_accessible_and_fit_a_phone(
    browser, live_server, catalogue, make_pending, make_sighting, screenshots, django_user_model
) -> None:
    """Every page of the site, with stored sightings and a photo waiting for confirmation."""
    page, carol = signed_up_page(browser, live_server.url, "carol", django_user_model)
    sighting = make_sighting(owner=carol, notes="Two of them, calling.", visibility="public")
    pending = make_pending(owner=carol)

    for name, path in (
        ("page-pending", f"/identify/{pending.pk}/"),
        ("page-sightings", "/sightings/"),
        ("page-sighting", f"/sightings/{sighting.pk}/"),
        ("page-sighting-edit", f"/sightings/{sighting.pk}/edit/"),
        ("page-gallery", "/species/"),
        ("page-species", f"/species/{sighting.species.slug}/"),
        ("page-profile", "/accounts/profile/"),
    ):
        page.goto(f"{live_server.url}{path}")
        check_page(page, screenshots, name)
    page.goto(f"{live_server.url}/identify/{pending.pk}/")
    page.keyboard.press("Tab")
    page.locator("#choice-2").focus()
    page.keyboard.press("Space")
    assert page.locator("#choice-2").is_checked()
