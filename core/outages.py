"""Database and storage outages become a clear 503 (JSON under /api/, a small page elsewhere).

Install it outside the session and authentication middleware (right inside the request log,
which itself must touch no database). Views' exceptions are caught in `process_exception`; an
outage raised by another middleware (a session save, say) has already been turned into a 500 by
Django when it reaches us, so a `got_request_exception` receiver marks the request and
`__call__` swaps that 500 for the 503.

Services raise `StorageUnavailable` when photo storage fails; database outages are Django's own
`OperationalError` / `InterfaceError`. `OUTAGES` holds the one message and code of each kind:
the API's exception handler answers with the same ones.
"""

from __future__ import annotations

import logging
import sys
from collections.abc import Callable
from dataclasses import dataclass

from botocore.exceptions import ConnectionError as BotoConnectionError
from botocore.exceptions import HTTPClientError
from django.core.signals import got_request_exception
from django.db import InterfaceError, OperationalError
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.template.loader import render_to_string

from core.storage import StorageUnavailable

logger = logging.getLogger("birdsite.outages")

RETRY_AFTER_SECONDS = 10


@dataclass(frozen=True)
class Outage:
    """What a person and an app are told when a service we depend on is down."""

    message: str
    code: str


OUTAGES = {
    "database": Outage(
        message="The database is unavailable right now. Please try again in a moment.",
        code="database_unavailable",
    ),
    "storage": Outage(message=StorageUnavailable.message, code="storage_unavailable"),
}
_MARK = "_birdsite_outage"


def outage_kind(exc: BaseException | None) -> str | None:
    """ "database" or "storage" when `exc` (or what caused it) is an outage, else None."""
    while exc is not None:
        if isinstance(exc, (OperationalError, InterfaceError)):
            return "database"
        if isinstance(exc, (StorageUnavailable, BotoConnectionError, HTTPClientError)):
            return "storage"
        exc = exc.__cause__
    return None


def outage_response(request: HttpRequest, kind: str) -> HttpResponse:
    """The 503 itself: never touches the database (no user, no session, no context processors)."""
    outage = OUTAGES[kind]
    if request.path.startswith("/api/"):
        response: HttpResponse = JsonResponse(
            {"detail": outage.message, "code": outage.code}, status=503
        )
    else:
        response = HttpResponse(
            render_to_string("503.html", {"message": outage.message}), status=503
        )
    response["Retry-After"] = str(RETRY_AFTER_SECONDS)
    return response


def _mark_outage(sender: object, request: HttpRequest | None = None, **kwargs: object) -> None:
    """Remember an outage Django is about to turn into a 500 (sent inside its `except`)."""
    kind = outage_kind(sys.exc_info()[1])
    if request is not None and kind is not None:
        setattr(request, _MARK, kind)


class OutageMiddleware:
    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response
        got_request_exception.connect(_mark_outage, dispatch_uid=__name__)

    def __call__(self, request: HttpRequest) -> HttpResponse:
        response = self.get_response(request)
        kind = getattr(request, _MARK, None)
        if kind is not None and response.status_code == 500:
            return outage_response(request, kind)
        return response

    def process_exception(self, request: HttpRequest, exception: Exception) -> HttpResponse | None:
        kind = outage_kind(exception)
        if kind is None:
            return None
        logger.warning(
            "%s outage: %s: %s",
            kind,
            type(exception).__name__,
            exception,
            extra={"outage": kind, "path": request.path},
        )
        return outage_response(request, kind)
