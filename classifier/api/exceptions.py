"""Every API error is JSON `{"detail": ..., "code": ...}` with the status the contract names.

Domain errors of the services (upload refused, classifier/storage/database down) are mapped here
once, so views only call services and never translate exceptions themselves.
"""

from __future__ import annotations

from typing import Any

from django.core.exceptions import ValidationError as DjangoValidationError
from rest_framework import status
from rest_framework.exceptions import APIException, Throttled, ValidationError
from rest_framework.fields import get_error_detail
from rest_framework.response import Response
from rest_framework.views import exception_handler

from accounts.services import InvalidCredentials, TooManyAttempts
from classifier import boxes, uploads
from classifier.active_model import ClassifierUnavailable
from core.outages import OUTAGES, RETRY_AFTER_SECONDS, outage_kind

UPLOAD_CODES: dict[type[uploads.UploadRejected], str] = {
    uploads.MissingUpload: "required",
    uploads.NotAnImageUpload: "not_an_image",
    uploads.UnreadableUpload: "unreadable_image",
    uploads.UploadTooLarge: "too_large",
    uploads.TooManyPixels: "too_many_pixels",
    boxes.InvalidBox: "invalid_box",
}


class ServiceUnavailable(APIException):
    status_code = status.HTTP_503_SERVICE_UNAVAILABLE
    default_detail = "The service is temporarily unavailable; please try again later."
    default_code = "service_unavailable"


def as_api_exception(exc: Exception) -> Exception:
    """The DRF exception a domain error stands for (other exceptions are returned unchanged)."""
    if isinstance(exc, uploads.UploadRejected):
        error = APIException(exc.message, code=UPLOAD_CODES.get(type(exc), "invalid_upload"))
        error.status_code = exc.status_code
        return error
    if isinstance(exc, DjangoValidationError):  # the services' rules
        return ValidationError(get_error_detail(exc))
    if isinstance(exc, InvalidCredentials):
        return ValidationError({"non_field_errors": [exc.message]}, code="authorization")
    if isinstance(exc, TooManyAttempts):
        return Throttled(wait=exc.retry_after)
    if isinstance(exc, ClassifierUnavailable):
        return ServiceUnavailable(exc.message, code="classifier_unavailable")
    kind = outage_kind(exc)
    if kind is not None:  # the same message and code as core.outages answers outside views
        return ServiceUnavailable(OUTAGES[kind].message, code=OUTAGES[kind].code)
    return exc


def api_exception_handler(exc: Exception, context: dict[str, Any]) -> Response | None:
    """DRF's handler on the mapped exception, with the body normalised to detail + code.

    Validation errors keep their per-field messages under `errors`. Unexpected exceptions
    return None so Django logs them and answers 500.
    """
    exc = as_api_exception(exc)
    response = exception_handler(exc, context)
    if response is None:
        return None
    if response.status_code == status.HTTP_503_SERVICE_UNAVAILABLE:
        response["Retry-After"] = str(RETRY_AFTER_SECONDS)
    if isinstance(exc, APIException) and isinstance(exc.detail, dict | list):
        errors = exc.detail if isinstance(exc.detail, dict) else {"non_field_errors": exc.detail}
        response.data = {"detail": "Invalid input.", "code": "invalid", "errors": errors}
    else:
        detail = response.data.get("detail", "")
        response.data = {"detail": str(detail), "code": getattr(detail, "code", None) or "error"}
    return response


class JsonErrorsMixin:
    """Use the API's exception handler in a view (the site's views keep Django's pages)."""

    def get_exception_handler(self):
        return api_exception_handler
