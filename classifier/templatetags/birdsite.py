"""Template helpers of the site: photo URLs (presigned on S3) and navigation state."""

from __future__ import annotations

from django import template
from django.db.models.fields.files import FieldFile
from django.utils.safestring import SafeString, mark_safe

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
