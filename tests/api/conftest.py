"""API fixtures: token clients. Users, species, sightings and the model come from the site's
fixtures (tests/site/conftest.py), so both front ends are tested on the same data."""

from __future__ import annotations

import pytest
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient

from classifier.active_model import get_predictor
from classifier.models import Species
from tests.site.conftest import (  # noqa: F401  (fixtures shared with the site's tests)
    PASSWORD,
    active_model,
    catalogue,
    exif_photo,
    make_pending,
    make_sighting,
    no_active_model,
    other_user,
    species,
    user,
)


@pytest.fixture
def api() -> APIClient:
    return APIClient()


def client_for(account) -> APIClient:
    client = APIClient()
    token, _ = Token.objects.get_or_create(user=account)
    client.credentials(HTTP_AUTHORIZATION=f"Token {token.key}")
    return client


@pytest.fixture
def alice(user) -> APIClient:  # noqa: F811 (the imported fixture)
    return client_for(user)


@pytest.fixture
def bob(other_user) -> APIClient:  # noqa: F811 (the imported fixture)
    return client_for(other_user)


@pytest.fixture
def model_species(active_model) -> list[Species]:  # noqa: F811 (the imported fixture)
    """The catalogue holds the species the model knows."""
    return [
        Species.objects.get_or_create(
            name=label["name"],
            defaults={"scientific_name": label["scientific_name"], "slug": f"s-{label['index']}"},
        )[0]
        for label in get_predictor().labels
    ]
