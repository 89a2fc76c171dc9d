"""Real photos with the EXIF a phone writes (date, GPS, orientation), made with Pillow."""

from __future__ import annotations

import io
from pathlib import Path

from PIL import Image

EXIF_IFD, GPS_IFD = 0x8769, 0x8825
DATETIME_ORIGINAL = 0x9003
ORIENTATION = 0x0112
TAKEN = "2021:05:04 07:30:00"
# 52.5163 N, 13.3777 E (Brandenburg Gate) as degrees, minutes, seconds.
GPS_LATITUDE = (52.0, 30.0, 58.68)
GPS_LONGITUDE = (13.0, 22.0, 39.72)


def jpeg_with_exif(
    source: Path, *, gps: bool = True, orientation: int | None = None, landscape: bool = False
) -> bytes:
    """The photo at `source` re-saved as JPEG carrying a date, GPS position and orientation
    (`landscape` crops it to 3:2, so a rotation shows in its size)."""
    image = Image.open(source).convert("RGB")
    if landscape:
        image = image.crop((0, 0, image.width, image.width * 2 // 3))
    exif = Image.Exif()
    exif[0x010F] = "PhoneMaker"
    exif.get_ifd(EXIF_IFD)[DATETIME_ORIGINAL] = TAKEN
    if gps:
        position = exif.get_ifd(GPS_IFD)
        position[1], position[2] = "N", GPS_LATITUDE
        position[3], position[4] = "E", GPS_LONGITUDE
    if orientation:
        exif[ORIENTATION] = orientation
    buffer = io.BytesIO()
    image.save(buffer, format="JPEG", quality=92, exif=exif.tobytes())
    return buffer.getvalue()


def has_personal_exif(data: bytes) -> bool:
    """True when a stored file still carries any EXIF (GPS, date, camera...)."""
    image = Image.open(io.BytesIO(data))
    exif = image.getexif()
    return bool(exif) or bool(exif.get_ifd(GPS_IFD)) or "exif" in image.info


def non_bird_jpeg() -> bytes:
    """A real photo without any bird: scikit-image's cup of coffee."""
    from skimage import data

    buffer = io.BytesIO()
    Image.fromarray(data.coffee()).save(buffer, format="JPEG", quality=90)
    return buffer.getvalue()
