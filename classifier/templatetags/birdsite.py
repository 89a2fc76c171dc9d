"""Template helpers of the site: photo URLs (presigned on S3), navigation state and maps."""

from __future__ import annotations

import json

from django import template
from django.conf import settings
from django.db.models.fields.files import FieldFile
from django.urls import reverse
from django.utils.safestring import SafeString, mark_safe

from classifier.selectors.sightings import MapPoint
from core import storage

register = template.Library()


@register.filter
def photo_url(file: FieldFile | None) -> str:
    return storage.photo_url(file=file)


@register.filter
def first_photo(species) -> FieldFile | None:
    """The first sample photo of a species (its photos are prefetched by the selectors)."""
    photos = list(species.photos.all()) if species is not None else []
    return photos[0].image if photos else None


@register.filter
def percent(probability: float) -> int:
    return round(float(probability) * 100)


@register.simple_tag(takes_context=True)
def current_page(context, *view_names: str) -> SafeString | str:
    """`aria-current="page"` when the request's view is one of `view_names`."""
    match = getattr(context.get("request"), "resolver_match", None)
    if match is not None and match.view_name in view_names:
        return mark_safe('aria-current="page"')
    return ""


@register.inclusion_tag("classifier/_map.html")
def sightings_map(points: list[MapPoint], *, label: str) -> dict:
    """A Leaflet map of sightings (static/js/map.js reads its data- attributes: no inline
    script); tiles and their attribution from settings (`BIRDSITE_MAP_TILES`)."""
    markers = [
        {
            "lat": point.latitude,
            "lon": point.longitude,
            "label": point.label,
            "url": reverse("classifier:sighting_detail", args=[point.pk]),
        }
        for point in points
    ]
    return {"label": label, "markers": json.dumps(markers), "count": len(markers), **map_tiles()}


@register.simple_tag
def map_tiles() -> dict:
    """The tile URL template and attribution of every map ("" without tiles)."""
    tiles = settings.BIRDSITE_MAP_TILES
    return {"tiles": tiles, "attribution": settings.BIRDSITE_MAP_ATTRIBUTION if tiles else ""}
