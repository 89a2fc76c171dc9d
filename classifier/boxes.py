"""The box a person points at: parsed and checked once, for the site and the API alike.

A box is "x,y,width,height" in whole pixels of the photo as it is shown upright (EXIF orientation
applied) at its ORIGINAL size. The stored copy of a photo may be smaller (uploads.STORED_MAX_SIDE),
so boxes are scaled to it before predicting and back again for the answer.
"""

from __future__ import annotations

import re

from classifier.models import MIN_BOX_SIDE
from classifier.uploads import UploadRejected
from ml.finder import Box

_NUMBER = re.compile(r"^[+-]?\d+$")
FORMAT_HELP = (
    'Give the box as four whole numbers "x,y,width,height" in pixels of the photo shown upright '
    "at its original size."
)


class InvalidBox(UploadRejected):
    """A box that cannot be used (answered with 400; nothing is stored)."""

    status_code = 400
    default_message = FORMAT_HELP


def parse_box(*, text: str, width: int, height: int) -> Box:
    """The box `text` stands for, checked against a `width` x `height` upright photo.

    Raises `InvalidBox` with a message for a person: not four whole numbers, a side that is not
    positive or smaller than `MIN_BOX_SIDE`, or a box reaching outside the photo.
    """
    parts = [part.strip() for part in str(text).split(",")]
    if len(parts) != 4 or not all(_NUMBER.match(part) for part in parts):
        raise InvalidBox(f"The box {_shown(text)} is not valid. {FORMAT_HELP}")
    x, y, box_width, box_height = (int(part) for part in parts)
    if box_width <= 0 or box_height <= 0:
        raise InvalidBox("The box's width and height must be positive whole numbers of pixels.")
    if box_width < MIN_BOX_SIDE or box_height < MIN_BOX_SIDE:
        raise InvalidBox(
            f"The box is too small: its width and height must be at least {MIN_BOX_SIDE} pixels."
        )
    if x < 0 or y < 0 or x + box_width > width or y + box_height > height:
        raise InvalidBox(
            f"The box {x},{y},{box_width},{box_height} reaches outside the photo, which is "
            f"{width} x {height} pixels upright."
        )
    return Box(x, y, box_width, box_height)


def whole_box(
    box: tuple[float, float, float, float], *, width: int, height: int
) -> tuple[int, int, int, int] | None:
    """`box` in whole pixels, moved inside a `width` x `height` photo; None if it cannot be kept
    as a box (the photo is smaller than the minimum side)."""
    x, y, box_width, box_height = (round(value) for value in box)
    box_width, box_height = min(box_width, width), min(box_height, height)
    x = min(max(x, 0), width - box_width)
    y = min(max(y, 0), height - box_height)
    if box_width < MIN_BOX_SIDE or box_height < MIN_BOX_SIDE:
        return None
    return (x, y, box_width, box_height)


def _shown(text: str) -> str:
    text = str(text)
    return repr(text if len(text) <= 40 else f"{text[:40]}...")
