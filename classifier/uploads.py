"""Checking uploaded photos and preparing the copy we store (EXIF stripped, orientation baked in).

Both the site and the API go through `read_upload` and `prepare_photo`; the errors carry the HTTP
status and a message for a person, so each front end only has to render them.
"""

from __future__ import annotations

import io
from dataclasses import dataclass
from datetime import datetime
from decimal import ROUND_HALF_UP, Decimal

from django.conf import settings
from django.core.files.uploadedfile import UploadedFile
from django.utils import timezone
from PIL import Image

from ml import images

# The stored copy is big enough to enjoy on a screen, small enough to serve quickly.
STORED_MAX_SIDE = 2048
STORED_JPEG_QUALITY = 88

_EXIF_IFD = 0x8769
_GPS_IFD = 0x8825
_DATETIME = 0x0132
_DATETIME_ORIGINAL = 0x9003
_OFFSET_TIME_ORIGINAL = 0x9011
_GPS_LATITUDE_REF, _GPS_LATITUDE, _GPS_LONGITUDE_REF, _GPS_LONGITUDE = 1, 2, 3, 4


class UploadRejected(Exception):
    """An upload we refuse; `status_code` is the HTTP answer, `message` is shown to the person."""

    status_code = 400
    default_message = "The upload could not be used."

    def __init__(self, message: str | None = None) -> None:
        self.message = message or self.default_message
        super().__init__(self.message)


class UploadTooLarge(UploadRejected):
    status_code = 413


class NotAnImageUpload(UploadRejected):
    status_code = 415
    default_message = "The file is not a supported image (JPEG, PNG, WebP, GIF, BMP, TIFF or HEIC)."


class UnreadableUpload(UploadRejected):
    status_code = 400
    default_message = "The image is truncated or corrupt and cannot be read."


class TooManyPixels(UploadRejected):
    status_code = 413


class MissingUpload(UploadRejected):
    status_code = 400
    default_message = "Choose a photo to upload."


_REJECTION_FOR_IMAGE_ERROR: dict[type[images.ImageRejected], type[UploadRejected]] = {
    images.NotAnImage: NotAnImageUpload,
    images.ImageTooLarge: TooManyPixels,
    images.UnreadableImage: UnreadableUpload,
}


@dataclass(frozen=True)
class PreparedPhoto:
    """The photo as we store it (JPEG without EXIF) plus what its EXIF offered the user."""

    content: bytes
    image: Image.Image  # upright RGB pixels of `content`, ready for the classifier
    # (width, height) of the photo upright at its original size: the pixels boxes are given in
    # (`image` may be smaller, see STORED_MAX_SIDE)
    original_size: tuple[int, int]
    taken_at: datetime | None
    latitude: Decimal | None
    longitude: Decimal | None


@dataclass(frozen=True)
class PhotoFacts:
    """What a photo's EXIF says about when and where it was taken."""

    taken_at: datetime | None
    latitude: Decimal | None
    longitude: Decimal | None


def read_photo_facts(*, data: bytes) -> PhotoFacts:
    """The EXIF date and GPS position of a photo, from its header (nothing decoded or kept).
    Raises `UploadRejected` as `prepare_photo` does."""
    try:
        return _facts(images.open_image(data, settings.MAX_IMAGE_PIXELS).getexif())
    except images.ImageRejected as error:
        raise rejection_for(error) from error


def _facts(exif: Image.Exif) -> PhotoFacts:
    latitude, longitude = _gps_position(exif)
    return PhotoFacts(taken_at=_taken_at(exif), latitude=latitude, longitude=longitude)


def read_upload(*, upload: UploadedFile | None) -> bytes:
    """Read an uploaded file after checking its announced size (refused before reading it all)."""
    if upload is None:
        raise MissingUpload()
    limit = settings.MAX_UPLOAD_BYTES
    if upload.size is not None and upload.size > limit:
        raise UploadTooLarge(_too_large_message(limit))
    upload.seek(0)
    data = upload.read(limit + 1)
    if len(data) > limit:
        raise UploadTooLarge(_too_large_message(limit))
    if not data:
        raise NotAnImageUpload("The file is empty: it contains no image.")
    return data


def prepare_photo(*, data: bytes) -> PreparedPhoto:
    """Decode once, read date and GPS from EXIF, and re-encode upright pixels without any EXIF.

    The pixel limit is checked from the header, before decoding. Orientation is applied to the
    pixels first, so dropping the EXIF orientation tag cannot turn the photo sideways.
    """
    try:
        return _prepare(data)
    except images.ImageRejected as error:
        raise rejection_for(error) from error


def rejection_for(error: images.ImageRejected) -> UploadRejected:
    """The upload refusal (status code + message) that answers an image error."""
    return _REJECTION_FOR_IMAGE_ERROR.get(type(error), UnreadableUpload)(str(error))


def _prepare(data: bytes) -> PreparedPhoto:
    source = images.open_image(data, settings.MAX_IMAGE_PIXELS)
    facts = _facts(source.getexif())
    original_size = images.upright_size(source, settings.MAX_IMAGE_PIXELS)  # before any draft
    upright = images.decode_rgb(source, min_side=STORED_MAX_SIDE // 2)
    upright.thumbnail(
        (STORED_MAX_SIDE, STORED_MAX_SIDE), Image.Resampling.LANCZOS, reducing_gap=3.0
    )
    clean = Image.frombytes("RGB", upright.size, upright.tobytes())  # no info, no EXIF left
    buffer = io.BytesIO()
    clean.save(buffer, format="JPEG", quality=STORED_JPEG_QUALITY, optimize=True)
    return PreparedPhoto(
        content=buffer.getvalue(),
        image=clean,
        original_size=original_size,
        taken_at=facts.taken_at,
        latitude=facts.latitude,
        longitude=facts.longitude,
    )


def _too_large_message(limit: int) -> str:
    return f"The file is larger than {limit / (1024 * 1024):.0f} MB; please upload a smaller photo."


def _taken_at(exif: Image.Exif) -> datetime | None:
    """When the photo was taken, from EXIF DateTimeOriginal (else DateTime); None if absent."""
    details = exif.get_ifd(_EXIF_IFD)
    raw = details.get(_DATETIME_ORIGINAL) or exif.get(_DATETIME)
    if not isinstance(raw, str):
        return None
    try:
        moment = datetime.strptime(raw.strip("\x00 "), "%Y:%m:%d %H:%M:%S")
    except ValueError:
        return None
    offset = details.get(_OFFSET_TIME_ORIGINAL)
    if isinstance(offset, str):
        try:
            return datetime.fromisoformat(f"{moment.isoformat()}{offset.strip()}")
        except ValueError:
            pass
    return timezone.make_aware(moment) if settings.USE_TZ else moment


def _gps_position(exif: Image.Exif) -> tuple[Decimal | None, Decimal | None]:
    """Latitude and longitude in degrees (6 decimals) from the GPS IFD; (None, None) if absent."""
    gps = exif.get_ifd(_GPS_IFD)
    try:
        latitude = _degrees(gps[_GPS_LATITUDE], gps.get(_GPS_LATITUDE_REF, "N"), "S")
        longitude = _degrees(gps[_GPS_LONGITUDE], gps.get(_GPS_LONGITUDE_REF, "E"), "W")
    except (KeyError, TypeError, ValueError, ZeroDivisionError):
        return None, None
    if not (-90 <= latitude <= 90 and -180 <= longitude <= 180):
        return None, None
    return latitude, longitude


def _degrees(value, reference, negative_reference: str) -> Decimal:
    degrees, minutes, seconds = (float(part) for part in value)
    total = degrees + minutes / 60 + seconds / 3600
    if isinstance(reference, bytes):
        reference = reference.decode("ascii", "ignore")
    if str(reference).strip("\x00 ").upper() == negative_reference:
        total = -total
    return Decimal(str(total)).quantize(Decimal("0.000001"), rounding=ROUND_HALF_UP)
