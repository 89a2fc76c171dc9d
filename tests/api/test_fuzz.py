"""Schema-driven fuzzing: schemathesis generates requests from our own OpenAPI schema and checks
that no answer is a 5xx and every answer matches the schema (status, content type, body)."""

from __future__ import annotations

import pytest
import schemathesis
from django.core.signals import request_finished, request_started
from django.db import close_old_connections
from hypothesis import HealthCheck, settings
from rest_framework.authtoken.models import Token
from schemathesis.checks import negative_data_rejection, positive_data_acceptance

from birdsite.wsgi import application

schema = schemathesis.openapi.from_wsgi("/api/v1/schema/?format=json", application)

# Not checked: a schema cannot say "species must exist" or "page must exist", so schema-valid
# requests may rightly get 400/404; and DRF ignores a malformed page_size instead of refusing it.
LENIENT = [positive_data_acceptance, negative_data_rejection]


@pytest.fixture
def keep_test_connection():
    """The WSGI handler closes "old" database connections after each request, and inside the
    test's transaction that is the test's own connection; Django's test client also stops it."""
    request_started.disconnect(close_old_connections)
    request_finished.disconnect(close_old_connections)
    yield
    request_started.connect(close_old_connections)
    request_finished.connect(close_old_connections)


@pytest.fixture
def fuzz_token(keep_test_connection, django_user_model, settings, active_model, species) -> str:
    """A signed-in caller (so private endpoints are fuzzed too) with throttles out of the way."""
    settings.REST_FRAMEWORK = {
        **settings.REST_FRAMEWORK,
        "DEFAULT_THROTTLE_RATES": {"predict_anon": "100000/min", "predict_user": "100000/min"},
    }
    user = django_user_model.objects.create_user("fuzzer", "fuzz@example.org", "fuzz-pass-1234")
    return Token.objects.create(user=user).key


@pytest.mark.slow
@pytest.mark.django_db
@schema.parametrize()
@settings(max_examples=50, deadline=None, suppress_health_check=list(HealthCheck))
def test_api_never_answers_5xx(case, fuzz_token):
    case.call_and_validate(
        headers={"Authorization": f"Token {fuzz_token}"}, excluded_checks=LENIENT
    )
