"""Security headers of every answer: the Content-Security-Policy (django-csp, from the settings'
policy) with the photo storage's origin added, and the Permissions-Policy."""

from __future__ import annotations

from urllib.parse import urlsplit

from csp.middleware import CSPMiddleware, PolicyParts
from django.conf import settings
from django.http import HttpRequest, HttpResponseBase

from core.storage import photo_origin

# No page uses the camera (the photo picker's `capture` attribute opens the camera app without
# it), the microphone or the browser's geolocation (places come from the photo's EXIF).
PERMISSIONS_POLICY = "camera=(), microphone=(), geolocation=()"


def map_tile_origin() -> str:
    """The origin of the map tiles ("" without tiles); a `{s}` subdomain becomes a wildcard."""
    template = settings.BIRDSITE_MAP_TILES
    if not template:
        return ""
    parts = urlsplit(template)
    return f"{parts.scheme}://{parts.netloc.replace('{s}', '*')}"


class SecurityHeadersMiddleware(CSPMiddleware):
    """django-csp's middleware, plus what only a request can know, plus Permissions-Policy.

    - Photos on S3 are presigned URLs on the bucket's endpoint: `img-src` allows its origin.
    - Map tiles (`BIRDSITE_MAP_TILES`, when set) are images from the tile server's origin.
    - A view's `csp_update` (the API docs' extra directives) applies to whichever policy is sent,
      so that a report-only rollout reports what the enforced policy would block.
    """

    def get_policy_parts(
        self, request: HttpRequest, response: HttpResponseBase, report_only: bool = False
    ) -> PolicyParts:
        parts = super().get_policy_parts(request, response, report_only)
        update = dict(parts.update or (getattr(response, "_csp_update", None) or {}))
        origins = [origin for origin in (photo_origin(), map_tile_origin()) if origin]
        if origins:
            update["img-src"] = [*update.get("img-src", ()), *origins]
        parts.update = update
        return parts

    def process_response(
        self, request: HttpRequest, response: HttpResponseBase
    ) -> HttpResponseBase:
        response = super().process_response(request, response)
        response.headers.setdefault("Permissions-Policy", PERMISSIONS_POLICY)
        return response
