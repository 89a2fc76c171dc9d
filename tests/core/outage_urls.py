"""Views that fail the way outages make real views fail (for the outage middleware tests)."""

from __future__ import annotations

from botocore.exceptions import EndpointConnectionError
from django.db import InterfaceError, OperationalError
from django.http import HttpRequest, HttpResponse
from django.urls import path
from rest_framework.permissions import AllowAny
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from classifier.api.exceptions import JsonErrorsMixin
from core.storage import StorageUnavailable

FAILURES: dict[str, Exception] = {
    "database": OperationalError("connection to server at 127.0.0.1 failed"),
    "interface": InterfaceError("connection already closed"),
    "storage": StorageUnavailable(),
    "s3": EndpointConnectionError(endpoint_url="http://127.0.0.1:9/bucket"),
    "bug": ValueError("a plain bug"),
}


def fail(request: HttpRequest, kind: str) -> HttpResponse:
    raise FAILURES[kind]


class FailingMiddleware:
    """Raises an outage outside any view, as a session save does when the database is down."""

    def __init__(self, get_response) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        response = self.get_response(request)
        if "fail-after" in request.GET:
            raise FAILURES[request.GET["fail-after"]]
        return response


class FailingApiView(JsonErrorsMixin, APIView):
    """An API view meeting an outage: answered by the API's exception handler, not the
    middleware."""

    authentication_classes: list = []
    permission_classes = [AllowAny]

    def get(self, request: Request, kind: str) -> Response:
        raise FAILURES[kind]


def ok(request: HttpRequest) -> HttpResponse:
    return HttpResponse("fine")


urlpatterns = [
    path("ok/", ok),
    path("api/v1/ok/", ok),
    path("page/<str:kind>/", fail),
    path("api/v1/<str:kind>/", fail),
    path("api/v1/drf/<str:kind>/", FailingApiView.as_view()),
]
