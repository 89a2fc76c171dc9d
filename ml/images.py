"""The one image preprocessing of the project: any photo in, `uint8 [size, size, 3]` RGB out.

Training, feature extraction and serving all go through `load_rgb`, so a model never sees
pixels prepared differently from the ones it was trained on.
"""

from __future__ import annotations

import io
import os
import warnings
from typing import BinaryIO

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

try:  # HEIC/HEIF photos from phones, when the optional plugin is installed
    import pillow_heif

    pillow_heif.register_heif_opener()
except ImportError:  # pragma: no cover - optional
    pass

SIZE = 224
MAX_PIXELS = 40_000_000
# Raster photo formats only: restricting the sniffers also stops header-less formats (TGA...)
# from "recognising" random bytes.
Image.init()
FORMATS = tuple(
    f for f in ("JPEG", "PNG", "WEBP", "GIF", "BMP", "TIFF", "HEIF", "AVIF") if f in Image.OPEN
)

ImageSource = bytes | bytearray | memoryview | str | os.PathLike | BinaryIO | Image.Image


class ImageRejected(ValueError):
    """A file that cannot be used as a photo; `str(error)` is a message for a person."""


class NotAnImage(ImageRejected):
    """The content is not a supported raster image (whatever its file name says)."""


class ImageTooLarge(ImageRejected):
    """More pixels than allowed: refused from the header, before decoding."""


class UnreadableImage(ImageRejected):
    """A recognised image format whose data is truncated or corrupt."""


def load_rgb(source: ImageSource, size: int = SIZE, max_pixels: int = MAX_PIXELS) -> np.ndarray:
    """Open a photo (bytes, path, binary file or PIL image) as RGB uint8 [size, size, 3].

    EXIF orientation is applied, any mode becomes RGB (transparency over white, 16-bit scaled),
    JPEGs are decoded at a reduced scale when large, then one resize to `size` x `size`.
    """
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", Image.DecompressionBombWarning)
        image = source if isinstance(source, Image.Image) else _open(source)
        _check_pixels(image, max_pixels)
        try:
            if image.format == "JPEG":
                image.draft("RGB", (size, size))
            image.load()
            image = ImageOps.exif_transpose(image)
            rgb = to_rgb(image)
        except Image.DecompressionBombError as exc:
            raise ImageTooLarge(_too_large_message(image.width * image.height, max_pixels)) from exc
        except (OSError, SyntaxError, ValueError, EOFError) as exc:
            raise UnreadableImage(
                f"The {image.format or 'image'} file is truncated or corrupt and cannot be read."
            ) from exc
    if rgb.size != (size, size):
        rgb = rgb.resize((size, size), Image.Resampling.BILINEAR)
    return np.asarray(rgb, dtype=np.uint8)


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
        raise ImageTooLarge(f"The image has too many pixels to be processed ({exc}).") from exc
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
