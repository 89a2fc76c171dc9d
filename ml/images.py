"""The one image preprocessing of the project: any photo in, `uint8 [size, size, 3]` RGB out.

Training, feature extraction and serving all go through `load_photo` and `view_pixels` (the
bird finder's crops too), so a model never sees pixels prepared differently from the ones it
was trained on; `load_rgb` is the whole frame at once, for pictures and checks.
"""

from __future__ import annotations

import io
import os
import warnings
from dataclasses import dataclass
from typing import BinaryIO

import numpy as np
from PIL import ExifTags, Image, UnidentifiedImageError

from ml.constants import IMAGE_SIZE

try:  # HEIC/HEIF photos from phones, when the optional plugin is installed
    import pillow_heif

    pillow_heif.register_heif_opener()
except ImportError:  # pragma: no cover - optional
    pass

MAX_PIXELS = 40_000_000
# Photos are decoded no smaller than this (short side): a crop around a bird that fills half the
# frame still has the model's input resolution.
DECODE_SIDE = 448
# Raster photo formats only: restricting the sniffers also stops header-less formats (TGA...)
# from "recognising" random bytes.
Image.init()
FORMATS = tuple(
    f for f in ("JPEG", "PNG", "WEBP", "GIF", "BMP", "TIFF", "HEIF", "AVIF") if f in Image.OPEN
)

# Modes Image.reduce handles; others (palette, 16-bit) are converted at full size.
_REDUCIBLE_MODES = {"L", "LA", "RGB", "RGBA", "RGBX", "CMYK", "I", "F"}
# EXIF orientation -> the transposition that makes the pixels upright (as ImageOps.exif_transpose).
_UPRIGHT = {
    2: Image.Transpose.FLIP_LEFT_RIGHT,
    3: Image.Transpose.ROTATE_180,
    4: Image.Transpose.FLIP_TOP_BOTTOM,
    5: Image.Transpose.TRANSPOSE,
    6: Image.Transpose.ROTATE_270,
    7: Image.Transpose.TRANSVERSE,
    8: Image.Transpose.ROTATE_90,
}
_SWAPS_AXES = {5, 6, 7, 8}

_BOMB_MESSAGE = "The image has far too many pixels to be processed."

ImageSource = bytes | bytearray | memoryview | str | os.PathLike | BinaryIO | Image.Image


class ImageRejected(ValueError):
    """A file that cannot be used as a photo; `str(error)` is a message for a person."""


class NotAnImage(ImageRejected):
    """The content is not a supported raster image (whatever its file name says)."""


class ImageTooLarge(ImageRejected):
    """More pixels than allowed: refused from the header, before decoding."""


class UnreadableImage(ImageRejected):
    """A recognised image format whose data is truncated or corrupt."""


def load_rgb(
    source: ImageSource, *, size: int = IMAGE_SIZE, max_pixels: int = MAX_PIXELS
) -> np.ndarray:
    """Open a photo (bytes, path, binary file or PIL image) as RGB uint8 [size, size, 3].

    EXIF orientation is applied, any mode becomes RGB (transparency over white, 16-bit scaled),
    large photos are decoded or reduced at a smaller scale first, then one resize to the size.
    """
    return view_pixels(decode_rgb(open_image(source, max_pixels), min_side=size), size=size)


@dataclass(frozen=True)
class Photo:
    """A photo decoded upright in RGB, and the upright size it has at full resolution (boxes
    given to or shown by the API are in those pixels)."""

    image: Image.Image
    size: tuple[int, int]

    @property
    def scale(self) -> float:
        """Full-resolution pixels per decoded pixel."""
        return self.size[0] / self.image.size[0]


def load_photo(
    source: ImageSource, *, max_pixels: int = MAX_PIXELS, min_side: int = DECODE_SIDE
) -> Photo:
    """Open and decode a photo upright, no smaller than `min_side` where it was larger, so that a
    crop around a small bird still has detail (see `ml.finder`)."""
    image = open_image(source, max_pixels)
    size = _upright_size(image)  # before decoding: a JPEG's draft() shrinks `image.size`
    return Photo(decode_rgb(image, min_side=min_side), size)


def upright_size(source: ImageSource, max_pixels: int = MAX_PIXELS) -> tuple[int, int]:
    """(width, height) of the photo upright at full resolution, from its header only."""
    return _upright_size(open_image(source, max_pixels))


def _upright_size(image: Image.Image) -> tuple[int, int]:
    width, height = image.size
    if image.getexif().get(ExifTags.Base.Orientation, 1) in _SWAPS_AXES:
        return height, width
    return width, height


def view_pixels(
    image: Image.Image,
    *,
    box: tuple[float, float, float, float] | None = None,
    size: int = IMAGE_SIZE,
) -> np.ndarray:
    """The region `box` (left, top, width, height in the image's pixels; None: the whole frame,
    squashed to a square as the training photos were) resized to uint8 [size, size, 3]."""
    if box is None:
        if image.size == (size, size):
            return np.asarray(image, dtype=np.uint8)
        region = None
    else:
        x, y, w, h = box
        width, height = image.size
        region = (max(x, 0), max(y, 0), min(x + w, width), min(y + h, height))
    resized = image.resize((size, size), Image.Resampling.BILINEAR, box=region)
    return np.asarray(resized, dtype=np.uint8)


def crop_box(
    image: Image.Image, box: tuple[float, float, float, float], *, scale: float = 1.0
) -> Image.Image:
    """The region `box` of `image`, in whole pixels and kept inside it. `box` is x, y, width,
    height in pixels of the photo at another size (its original, for a smaller stored copy);
    `scale` is `image`'s pixels per one of those."""
    x, y, w, h = (value * scale for value in box)
    left, top = max(round(x), 0), max(round(y), 0)
    return image.crop((left, top, min(round(x + w), image.width), min(round(y + h), image.height)))


def open_image(source: ImageSource, max_pixels: int = MAX_PIXELS) -> Image.Image:
    """Open lazily (header only): the type is decided by content, pixel bombs refused undecoded."""
    image = source if isinstance(source, Image.Image) else _open(source)
    _check_pixels(image, max_pixels)
    return image


def decode_rgb(image: Image.Image, min_side: int) -> Image.Image:
    """Decode an opened image upright in RGB, no smaller than `min_side` where it was larger.

    A large JPEG is decoded at a reduced scale (`draft`); any other large image is box-reduced
    right after decoding, before the copies that orientation and mode conversion make.
    """
    orientation = image.getexif().get(ExifTags.Base.Orientation, 1)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", Image.DecompressionBombWarning)
        try:
            if image.format == "JPEG":
                image.draft("RGB", (min_side, min_side))
            image.load()
            factor = min(image.size) // min_side
            if factor >= 2 and image.mode in _REDUCIBLE_MODES:
                image = image.reduce(factor)
            if orientation in _UPRIGHT:
                image = image.transpose(_UPRIGHT[orientation])
            return to_rgb(image)
        except Image.DecompressionBombError as exc:
            raise ImageTooLarge(_BOMB_MESSAGE) from exc
        except (OSError, SyntaxError, ValueError, EOFError) as exc:
            raise UnreadableImage(
                f"The {image.format or 'image'} file is truncated or corrupt and cannot be read."
            ) from exc


def to_rgb(image: Image.Image) -> Image.Image:
    """Any Pillow mode to 8-bit RGB: alpha composited over white, 16/32-bit scaled to 0..255."""
    if image.mode == "RGB":
        return image
    if image.mode in ("I", "I;16", "I;16L", "I;16B", "I;16N", "F"):
        values = np.asarray(image, dtype=np.float64)
        peak = values.max() if values.size else 0.0
        scale = 255.0 / 65535.0 if peak > 255 else 1.0
        grey = np.clip(values * scale, 0, 255).round().astype(np.uint8)
        return Image.fromarray(grey, "L").convert("RGB")
    has_alpha = image.mode in ("RGBA", "LA", "PA", "RGBa", "La") or "transparency" in image.info
    if has_alpha:
        rgba = image.convert("RGBA")
        background = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        return Image.alpha_composite(background, rgba).convert("RGB")
    return image.convert("RGB")


def _open(source: ImageSource) -> Image.Image:
    """Open lazily (header only) and decide the type by content, never by file name."""
    if isinstance(source, (bytes, bytearray, memoryview)):
        if len(source) == 0:
            raise NotAnImage("The file is empty: it contains no image.")
        stream: BinaryIO = io.BytesIO(bytes(source))
    elif isinstance(source, (str, os.PathLike)):
        with open(source, "rb") as handle:
            data = handle.read()
        return _open(data)
    else:
        stream = source
    try:
        image = Image.open(stream, formats=FORMATS)
    except Image.DecompressionBombError as exc:
        raise ImageTooLarge(_BOMB_MESSAGE) from exc
    except (UnidentifiedImageError, SyntaxError, OSError, ValueError, EOFError) as exc:
        raise NotAnImage(
            "The file is not a supported image (JPEG, PNG, WebP, GIF, BMP, TIFF or HEIC)."
        ) from exc
    return image


def _check_pixels(image: Image.Image, max_pixels: int) -> None:
    pixels = image.width * image.height
    if pixels > max_pixels:
        raise ImageTooLarge(_too_large_message(pixels, max_pixels))
    if pixels == 0:
        raise UnreadableImage("The image has no pixels.")


def _too_large_message(pixels: int, max_pixels: int) -> str:
    return (
        f"The image has {pixels / 1e6:.1f} megapixels; at most {max_pixels / 1e6:.0f} "
        "megapixels are accepted."
    )
