"""Reads of the species catalogue (the gallery)."""

from __future__ import annotations

from django.db.models import Count, Prefetch, Q, QuerySet

from classifier.models import Sighting, Species, SpeciesPhoto, Visibility


def with_first_photo(queryset: QuerySet[Species]) -> QuerySet[Species]:
    """The species with their sample photos prefetched in gallery order."""
    return queryset.prefetch_related(
        Prefetch("photos", queryset=SpeciesPhoto.objects.order_by("position"))
    )


def species_catalogue(*, query: str = "") -> QuerySet[Species]:
    """All species (with their sample photos), filtered by common or scientific name."""
    species = Species.objects.all()
    query = query.strip()
    if query:
        species = species.filter(Q(name__icontains=query) | Q(scientific_name__icontains=query))
    return with_first_photo(species).order_by("name")


def get_species(*, slug: str) -> Species | None:
    """One species with its photos and number of sightings; None when there is no such slug."""
    return (
        with_first_photo(Species.objects.all())
        .annotate(sighting_count=Count("sightings"))
        .filter(slug=slug)
        .first()
    )


def find_species(*, text: str) -> Species | None:
    """The species a person typed: common name (any case) or scientific name."""
    text = " ".join(text.split())
    if not text:
        return None
    return Species.objects.filter(Q(name__iexact=text) | Q(scientific_name__iexact=text)).first()


def public_sightings(*, species: Species) -> QuerySet[Sighting]:
    """The public sightings of a species, most recent first."""
    return (
        Sighting.objects.filter(species=species, visibility=Visibility.PUBLIC)
        .select_related("owner", "species")
        .order_by("-observed_at", "-id")
    )


def public_sightings_of(*, species: Species, limit: int = 12) -> QuerySet[Sighting]:
    """The most recent public sightings of a species."""
    return public_sightings(species=species)[:limit]
