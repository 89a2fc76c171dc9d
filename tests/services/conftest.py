"""Service tests use the site's data fixtures (users, species, pending photos, sightings)."""

from tests.site.conftest import (  # noqa: F401  (fixtures shared with the front ends' tests)
    exif_photo,
    make_pending,
    make_sighting,
    other_user,
    species,
    user,
)
