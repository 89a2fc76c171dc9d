"""Structured logging: JSON lines on stdout, each carrying the request id and user.

The site's own records keep `birdsite.` logger names (`birdsite.request`, `birdsite.outages`,
`birdsite.health`) whichever app writes them: they name the site, not a module.
"""

from __future__ import annotations

import contextvars
import json
import logging
import time
import uuid
from collections.abc import Callable

from django.http import HttpRequest, HttpResponse

_request_id: contextvars.ContextVar[str] = contextvars.ContextVar("request_id", default="-")
_user_id: contextvars.ContextVar[str] = contextvars.ContextVar("user_id", default="-")

logger = logging.getLogger("birdsite.request")

# Attributes every LogRecord has; anything else was passed through `extra=` and is logged too.
_RECORD_FIELDS = set(logging.makeLogRecord({}).__dict__) | {"message", "asctime"}


class RequestContextFilter(logging.Filter):
    """Stamp every record with the current request's id and user."""

    def filter(self, record: logging.LogRecord) -> bool:
        record.request_id = _request_id.get()
        record.user_id = _user_id.get()
        return True


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        payload = {
            "time": self.formatTime(record, "%Y-%m-%dT%H:%M:%S%z"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        payload.update(
            {key: value for key, value in record.__dict__.items() if key not in _RECORD_FIELDS}
        )
        if record.exc_info:
            payload["exception"] = self.formatException(record.exc_info)
        return json.dumps(payload, default=str)


class RequestLogMiddleware:
    """Give each request an id (or keep the proxy's X-Request-ID) and log one line per request."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        request_id = request.headers.get("X-Request-ID") or uuid.uuid4().hex
        request_token = _request_id.set(request_id[:64])
        user_token = _user_id.set("-")
        started = time.perf_counter()
        try:
            response = self.get_response(request)
            # Only a user the request already loaded: logging must not query a database
            # that may be the very thing failing.
            user = getattr(request, "_cached_user", None)
            if user is not None and user.is_authenticated:
                _user_id.set(str(user.pk))
            response["X-Request-ID"] = _request_id.get()
            logger.info(
                "%s %s %s",
                request.method,
                request.path,
                response.status_code,
                extra={
                    "method": request.method,
                    "path": request.path,
                    "status": response.status_code,
                    "latency_ms": round((time.perf_counter() - started) * 1000, 1),
                },
            )
            return response
        finally:
            _request_id.reset(request_token)
            _user_id.reset(user_token)
