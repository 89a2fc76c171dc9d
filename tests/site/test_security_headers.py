"""Content-Security-Policy and Permissions-Policy on every page, with photos on local files and on
S3; the report-only rollout setting; pages carry no inline script, style or event handler."""

from __future__ import annotations

import json
import re
from urllib.parse import urlsplit

import pytest
from django.test import Client
from django.urls import reverse

from core.headers import PERMISSIONS_POLICY
from tests.test_settings_and_storage import PRODUCTION_ENV, run_manage

pytestmark = pytest.mark.django_db

SITE_POLICY = {
    "default-src": ["'self'"],
    "script-src": ["'self'"],
    "style-src": ["'self'"],
    "img-src": ["'self'", "blob:"],
    "object-src": ["'none'"],
    "frame-ancestors": ["'none'"],
    "form-action": ["'self'"],
    "base-uri": ["'none'"],
}
# The API docs' bundles need a little more, on their page only (classifier/api/urls.py).
DOCS_EXTRA = {
    "api:docs": {"img-src": ["data:"]},
    "api:redoc": {"worker-src": ["blob:"], "style-src": ["'unsafe-inline'"], "img-src": ["data:"]},
}
INLINE_CODE = [
    re.compile(r"<script(?![^>]*\bsrc=)[^>]*>", re.I),  # a script element without src
    re.compile(r"<style\b", re.I),
    re.compile(r"\sstyle\s*=", re.I),
    re.compile(r"\son[a-z]+\s*=", re.I),  # onclick=, onload=, ...
    re.compile(r"javascript:", re.I),
]


def directives(header: str) -> dict[str, list[str]]:
    parts = (part.split() for part in header.split(";") if part.strip())
    return {name: values for name, *values in parts}


# BIRDSITE_MAP_TILES' default (the tests run without tiles: birdsite/test_settings.py).
OSM_TILES = "https://tile.openstreetmap.org"


def expected_policy(
    name: str = "", *, photo_origin: str = "", tile_origin: str = ""
) -> dict[str, list[str]]:
    policy = {key: list(values) for key, values in SITE_POLICY.items()}
    for key, values in DOCS_EXTRA.get(name, {}).items():
        policy[key] = [*policy.get(key, []), *values]
    policy["img-src"].extend(origin for origin in (photo_origin, tile_origin) if origin)
    return policy


@pytest.fixture
def pages(species, make_sighting, make_pending, user) -> list[tuple[str, str, bool]]:
    """(url name, url, logged in) of every HTML page that answers GET."""
    sighting = make_sighting(owner=user)
    pending = make_pending(owner=user)
    anonymous = [
        ("home", reverse("home")),
        ("about", reverse("classifier:about")),
        ("species_list", reverse("classifier:species_list")),
        ("species_detail", reverse("classifier:species_detail", args=[species[0].slug])),
        ("login", reverse("accounts:login")),
        ("signup", reverse("accounts:signup")),
        ("password_reset", reverse("accounts:password_reset")),
        ("password_reset_done", reverse("accounts:password_reset_done")),
        ("api:docs", reverse("api:docs")),
        ("api:redoc", reverse("api:redoc")),
    ]
    logged_in = [
        ("sighting_list", reverse("classifier:sighting_list")),
        ("life_list", reverse("classifier:life_list")),
        ("sighting_detail", reverse("classifier:sighting_detail", args=[sighting.pk])),
        ("sighting_edit", reverse("classifier:sighting_edit", args=[sighting.pk])),
        ("sighting_delete", reverse("classifier:sighting_delete", args=[sighting.pk])),
        ("pending_photo", reverse("classifier:pending_photo", args=[pending.pk])),
        ("profile", reverse("accounts:profile")),
        ("password_change", reverse("accounts:password_change")),
        ("delete", reverse("accounts:delete")),
        ("api:docs", reverse("api:docs")),
    ]
    return [(n, u, False) for n, u in anonymous] + [(n, u, True) for n, u in logged_in]


def check_pages(pages, alice: Client, *, photo_origin: str = "", tile_origin: str = "") -> None:
    for name, url, logged_in in pages:
        response = (alice if logged_in else Client()).get(url)
        assert response.status_code == 200, (url, response.status_code)
        assert response["Content-Type"].startswith("text/html"), url
        assert directives(response["Content-Security-Policy"]) == expected_policy(
            name, photo_origin=photo_origin, tile_origin=tile_origin
        ), url
        assert "Content-Security-Policy-Report-Only" not in response
        assert response["Permissions-Policy"] == PERMISSIONS_POLICY
        html = response.content.decode()
        for pattern in INLINE_CODE:
            assert not pattern.search(html), (url, pattern.pattern)


def test_every_page_sends_the_policy_with_local_photos(local_photos, pages, alice) -> None:
    check_pages(pages, alice)


def test_with_map_tiles_every_page_allows_the_tile_server_and_maps_credit_it(
    local_photos, pages, alice, settings
) -> None:
    """Tiles on (`BIRDSITE_MAP_TILES`): their origin in `img-src` (a `{s}` subdomain as a
    wildcard), the attribution on the map pages; off (the tests' default): neither."""
    settings.BIRDSITE_MAP_TILES = "https://{s}.tiles.example.org/{z}/{x}/{y}.png"
    settings.BIRDSITE_MAP_ATTRIBUTION = "&copy; Example Tiles"
    check_pages(pages, alice, tile_origin="https://*.tiles.example.org")
    for client, name in ((Client(), "species_detail"), (alice, "sighting_list")):
        url = next(url for page, url, _ in pages if page == name)
        html = client.get(url).content.decode()
        assert 'data-tiles="https://{s}.tiles.example.org/{z}/{x}/{y}.png"' in html, name
        assert 'data-attribution="&amp;copy; Example Tiles"' in html, name
    settings.BIRDSITE_MAP_TILES = ""
    html = Client().get(next(url for page, url, _ in pages if page == "species_detail"))
    assert 'data-tiles=""' in html.content.decode() and "Example Tiles" not in str(html.content)


def test_every_page_allows_images_from_the_bucket_with_photos_on_s3(
    s3_bucket, s3_endpoint, pages, alice
) -> None:
    origin = "{0.scheme}://{0.netloc}".format(urlsplit(s3_endpoint))
    check_pages(pages, alice, photo_origin=origin)


def test_the_photos_on_a_sighting_page_come_from_an_allowed_origin(
    s3_bucket, make_sighting, user, alice
) -> None:
    sighting = make_sighting(owner=user)
    response = alice.get(reverse("classifier:sighting_detail", args=[sighting.pk]))
    allowed = directives(response["Content-Security-Policy"])["img-src"]
    photos = re.findall(r'<img[^>]+src="([^"]+)"', response.content.decode())
    assert photos
    for src in photos:
        url = urlsplit(src.replace("&amp;", "&"))
        assert not url.netloc or f"{url.scheme}://{url.netloc}" in allowed, src


def test_api_answers_and_probes_send_the_headers_too(local_photos, client) -> None:
    for url in (reverse("healthz"), reverse("api:species-list")):
        response = client.get(url)
        assert directives(response["Content-Security-Policy"]) == expected_policy()
        assert response["Permissions-Policy"] == PERMISSIONS_POLICY


PAGE_HEADERS = (
    "from django.test import Client; import json; r = Client().get('/healthz'); "
    "print(json.dumps(dict(r.headers)))"
)


def headers_in_a_process(env: dict[str, str]) -> dict[str, str]:
    """The headers a process started with `env` answers with (on `/healthz`: no database)."""
    site = {**PRODUCTION_ENV, "DJANGO_ALLOWED_HOSTS": "testserver", **env}
    site["DJANGO_SECURE_SSL_REDIRECT"] = "0"
    result = run_manage("shell", "-c", PAGE_HEADERS, env=site)
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout.strip().splitlines()[-1])


def test_report_only_sends_the_same_policy_to_the_report_uri_without_enforcing_it() -> None:
    headers = headers_in_a_process(
        {"BIRDSITE_CSP_REPORT_ONLY": "1", "BIRDSITE_CSP_REPORT_URI": "/csp-reports/"}
    )
    assert "Content-Security-Policy" not in headers
    assert directives(headers["Content-Security-Policy-Report-Only"]) == {
        **expected_policy(tile_origin=OSM_TILES),
        "report-uri": ["/csp-reports/"],
    }
    assert headers["Permissions-Policy"] == PERMISSIONS_POLICY


def test_the_policy_names_the_regional_endpoint_of_an_aws_bucket() -> None:
    """Without an endpoint setting the photos are presigned on the bucket's region (signed
    offline: no request leaves the machine)."""
    headers = headers_in_a_process(
        {
            "AWS_STORAGE_BUCKET_NAME": "bird-photos",
            "AWS_S3_REGION_NAME": "eu-west-1",
            "AWS_ACCESS_KEY_ID": "AKIAEXAMPLE",
            "AWS_SECRET_ACCESS_KEY": "example-secret",
        }
    )
    assert directives(headers["Content-Security-Policy"]) == expected_policy(
        photo_origin="https://s3.eu-west-1.amazonaws.com", tile_origin=OSM_TILES
    )


def test_a_process_without_tiles_allows_no_tile_server() -> None:
    """The default is OpenStreetMap's tile server (above); BIRDSITE_MAP_TILES="" turns tiles off."""
    headers = headers_in_a_process({"BIRDSITE_MAP_TILES": ""})
    assert directives(headers["Content-Security-Policy"]) == expected_policy()
