"""Every page in real headless Chromium under the site's Content-Security-Policy (slow): no
violation, no console error, no script error, and no request to anything but the site itself and,
with photos on S3, the bucket (anything else is blocked and fails the test), anonymous and logged
in, with a real photo identified, saved and shown, and the API docs rendered."""

from __future__ import annotations

from pathlib import Path
from urllib.parse import urlsplit

import pytest

from tests.site.test_browser import (  # noqa: F401  (fixtures and helpers of the browser tests)
    DESKTOP,
    browser,
    origin_of,
    page_origins,
    sign_up,
    upload,
)

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True)]

# Runs in every page and worker-free frame before the page's own scripts.
REPORT_VIOLATIONS = """
document.addEventListener("securitypolicyviolation", (event) => {
  window.cspViolation(
    `${event.effectiveDirective} blocked ${event.blockedURI || "inline"} ` +
    `on ${event.documentURI} (${event.sourceFile || "?"}:${event.lineNumber})`
  );
});
"""


# ReDoc's bundle always draws its maker's logo from the maker's CDN (no option leaves it out);
# the policy blocks it, as it must, the image hides itself and the page works. The one outside
# address a page may try, and only because the policy stops it.
REDOC_VENDOR_LOGO = "https://cdn.redoc.ly/redoc/logo-mini.svg"


class Watched:
    """A browser context that records what the test must not see."""

    def __init__(self, chromium, base_url: str) -> None:
        self.origin = origin_of(base_url)
        self.allowed = page_origins(base_url)
        self.problems: list[str] = []
        self.context = chromium.new_context(viewport=DESKTOP)
        self.context.route("**/*", self._only_the_site)
        self.context.expose_function("cspViolation", self._violation)
        self.context.add_init_script(REPORT_VIOLATIONS)
        self.page = self.context.new_page()
        self.page.on("console", self._console)
        self.page.on("pageerror", lambda error: self.problems.append(f"script error: {error}"))

    def _only_the_site(self, route) -> None:
        url = route.request.url
        if origin_of(url) in self.allowed:
            route.continue_()
        else:
            self.problems.append(f"request outside the site: {url}")
            route.abort()

    def _violation(self, text: str) -> None:
        if not text.startswith(f"img-src blocked {REDOC_VENDOR_LOGO} "):
            self.problems.append(f"CSP violation: {text}")

    def _console(self, message) -> None:
        if message.type == "error" and REDOC_VENDOR_LOGO not in message.text:
            self.problems.append(f"console error on {self.page.url}: {message.text}")

    def visit(self, path: str, *, ready: str = "main") -> None:
        self.page.goto(self.origin + path)
        self.page.wait_for_selector(ready)
        self.page.wait_for_load_state("networkidle")

    def assert_clean(self) -> None:
        assert not self.problems, "\n".join(self.problems)


def test_every_page_runs_under_the_policy_without_a_violation(
    browser,  # noqa: F811 (the imported fixture)
    live_server,
    active_model,
    catalogue,
    held_out_photo,
) -> None:
    photo, species_name = held_out_photo
    watched = Watched(browser, live_server.url)
    page = watched.page

    # Anonymous: the identify flow with a real photo (the preview is a blob: image), the result
    # page with Cropper.js, the gallery, a species, the API docs.
    watched.visit("/")
    page.set_input_files("#photo-input", str(photo))
    page.wait_for_selector("[data-preview]:not([hidden])")
    page.click("[data-submit]")
    page.wait_for_url("**/identify/**")
    page.wait_for_selector(".cropper-crop-box")
    page.wait_for_load_state("networkidle")
    pending = page.url
    for path in ("/about/", "/species/", "/species/?q=eagle", "/accounts/login/"):
        watched.visit(path)
    watched.visit("/api/v1/docs/", ready=".swagger-ui .info")
    watched.visit("/api/v1/redoc/", ready="[data-section-id]")

    # Logged in: sign up keeps the photo; save it; the log, the life list (its SVG charts), the
    # sighting, its species, the profile, and the API docs again (now with the session).
    watched.visit("/accounts/signup/")
    sign_up(page, live_server.url, "erin")
    page.wait_for_url(f"{live_server.url}/")
    watched.visit(urlsplit(pending).path, ready=".cropper-crop-box")
    page.locator(".suggestion label", has_text=species_name.title()).click()
    page.click("text=Save sighting")
    page.wait_for_url("**/sightings/*/")
    page.wait_for_load_state("networkidle")
    sighting = urlsplit(page.url).path
    assert page.locator("img").count() >= 1
    page.click(f"h1 >> text={species_name.title()}")
    page.wait_for_url("**/species/*/")
    page.wait_for_load_state("networkidle")
    for path in (
        "/sightings/",
        "/sightings/life-list/",
        f"{sighting}edit/",
        "/accounts/profile/",
        "/",
    ):
        watched.visit(path)
    upload(page, Path(photo))
    page.wait_for_selector(".cropper-crop-box")
    watched.visit("/api/v1/docs/", ready=".swagger-ui .info")
    watched.visit("/api/v1/redoc/", ready="[data-section-id]")

    watched.context.close()
    watched.assert_clean()
