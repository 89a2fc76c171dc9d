"""HEAD answers like GET on every page, through the real gunicorn in production settings:
the same status and headers, and no body; a private page's HEAD gets the same redirect to
log-in as its GET (slow).

Headers left out of the comparison, because they differ between any two requests, GET or not:
`Date` (the clock), `X-Request-ID` (one per request, for the log) and the values of `Set-Cookie`
(the cookies' expiry dates move with the clock; the cookies set must be the same ones).
"""

from __future__ import annotations

from datetime import UTC, datetime
from http.cookies import SimpleCookie

import psycopg
import pytest
import requests

from tests.serving.test_outages import create_sighting, identify_on_site
from tests.support.serving_stack import Stack, serving_stack, site_login

pytestmark = pytest.mark.slow

PER_REQUEST = {"date", "x-request-id", "set-cookie"}
ANONYMOUS_PAGES = [
    "/",
    "/about/",
    "/species/",
    "/species/?q=eagle",
    "/species/bald-eagle/",
    "/species/no-such-bird/",
    "/accounts/login/",
    "/accounts/signup/",
    "/accounts/password/reset/",
    "/accounts/password/reset/sent/",
    "/accounts/password/reset/complete/",
    "/healthz",
    "/readyz",
    "/api/v1/",
    "/api/v1/docs/",
    "/api/v1/docs/?script=",
    "/api/v1/redoc/",
    "/api/v1/schema/",
    "/api/v1/species/",
    "/api/v1/species/bald-eagle/",
    "/static/css/site.css",
    # private pages: the redirect to log-in (or the API's 401)
    "/sightings/",
    "/sightings/export.csv",
    "/sightings/ebird.csv",
    "/sightings/life-list/",
    "/accounts/profile/",
    "/accounts/delete/",
    "/accounts/password/change/",
    "/admin/",
    "/api/v1/sightings/",
    "/api/v1/sightings/ebird.csv",
    "/api/v1/me/",
    "/api/v1/me/life-list/",
]
LOGGED_IN_PAGES = [
    "/",
    "/sightings/",
    "/sightings/?species=bald-eagle",
    "/sightings/export.csv",
    "/sightings/ebird.csv",
    "/sightings/life-list/",
    "/accounts/profile/",
    "/accounts/delete/",
    "/accounts/password/change/",
    "/accounts/password/change/done/",
    "/api/v1/sightings/",
    "/api/v1/sightings/ebird.csv",
    "/api/v1/me/",
    "/api/v1/me/life-list/",
    "/api/v1/docs/",
]


def add_species(stack: Stack) -> None:
    now = datetime.now(UTC)
    with psycopg.connect(stack.database) as conn:
        conn.execute(
            "INSERT INTO classifier_species (name, scientific_name, slug, created_at, updated_at)"
            " VALUES ('BALD EAGLE', 'Haliaeetus leucocephalus', 'bald-eagle', %s, %s)",
            (now, now),
        )


def comparable(response: requests.Response) -> dict[str, str]:
    return {k.lower(): v for k, v in response.headers.items() if k.lower() not in PER_REQUEST}


def cookie_names(response: requests.Response) -> set[str]:
    cookies = SimpleCookie()
    for value in response.raw.headers.getlist("Set-Cookie"):
        cookies.load(value)
    return set(cookies)


def assert_head_like_get(session: requests.Session, base_url: str, path: str) -> int:
    get = session.get(base_url + path, allow_redirects=False, timeout=30)
    head = session.head(base_url + path, allow_redirects=False, timeout=30)
    assert head.status_code == get.status_code, path
    assert comparable(head) == comparable(get), path
    assert cookie_names(head) == cookie_names(get), path
    assert head.content == b"", path
    return get.status_code


def test_every_get_page_answers_head_alike(tmp_path, small_model_dir, s3_endpoint, bird_photo):
    with serving_stack(tmp_path, small_model_dir, s3_endpoint=s3_endpoint) as stack:
        add_species(stack)
        api, site = stack.api(), site_login(stack)
        sighting = create_sighting(stack, api, bird_photo)
        assert sighting.status_code == 201, sighting.text[:500]
        pk = sighting.json()["id"]
        identified = identify_on_site(stack, site, bird_photo)
        assert identified.status_code == 302
        pending = identified.headers["Location"]
        own = [
            f"/sightings/{pk}/",
            f"/sightings/{pk}/edit/",
            f"/sightings/{pk}/delete/",
            f"/api/v1/sightings/{pk}/",
            pending,
        ]

        anonymous = requests.Session()
        statuses = {p: assert_head_like_get(anonymous, stack.base_url, p) for p in ANONYMOUS_PAGES}
        statuses |= {
            f"{p} (anonymous)": assert_head_like_get(anonymous, stack.base_url, p) for p in own
        }
        for path in LOGGED_IN_PAGES + own:
            assert assert_head_like_get(site, stack.base_url, path) == 200, path

        assert statuses["/species/bald-eagle/"] == 200
        assert statuses["/species/no-such-bird/"] == 404
        for private in ("/sightings/", "/accounts/profile/", "/admin/"):
            assert statuses[private] == 302, private
        assert statuses["/api/v1/sightings/"] == 401
        assert statuses[f"/sightings/{pk}/ (anonymous)"] == 404  # private sighting
        login_redirect = anonymous.head(stack.base_url + "/sightings/", allow_redirects=False)
        assert login_redirect.headers["Location"] == "/accounts/login/?next=/sightings/"
