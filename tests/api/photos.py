"""The upload table of the API: real photo variants that must be accepted, and files refused."""

from __future__ import annotations

import gzip
import io
import struct
import zlib

import numpy as np
from PIL import Image


def encode(image: Image.Image, fmt: str, **kwargs) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, fmt, **kwargs)
    return buffer.getvalue()


def accepted_variants(photo: Image.Image) -> dict[str, tuple[str, bytes, Image.Image]]:
    """name -> (file name, bytes, the same picture as upright RGB for comparison)."""
    rgba = photo.convert("RGBA")
    rgba.putalpha(255)
    grey = photo.convert("L")
    grey16 = Image.fromarray((np.asarray(grey, dtype=np.uint16) * 257).astype(np.uint16))
    exif = Image.Exif()
    exif[0x0112] = 6  # stored rotated: a viewer turns it 90 degrees clockwise
    rotated = photo.transpose(Image.Transpose.ROTATE_90)
    wide = photo.resize((photo.width * 4, photo.height // 2))
    palette = photo.convert("P")
    cmyk = photo.convert("CMYK")
    return {
        "jpeg": ("bird.jpg", encode(photo, "JPEG", quality=95), photo),
        "png": ("bird.png", encode(photo, "PNG"), photo),
        "png_rgba": ("bird.png", encode(rgba, "PNG"), photo),
        "webp": ("bird.webp", encode(photo, "WEBP", lossless=True), photo),
        "gif": ("bird.gif", encode(palette, "GIF"), palette.convert("RGB")),
        "greyscale": ("bird.png", encode(grey, "PNG"), grey.convert("RGB")),
        "cmyk_jpeg": ("bird.jpg", encode(cmyk, "JPEG", quality=95), cmyk.convert("RGB")),
        "png_16bit": ("bird.png", encode(grey16, "PNG"), grey.convert("RGB")),
        "exif_rotated": ("phone.jpg", encode(rotated, "JPEG", exif=exif, quality=95), photo),
        "panorama": ("wide.jpg", encode(wide, "JPEG", quality=95), wide),
        "jpeg_named_png": ("bird.png", encode(photo, "JPEG", quality=95), photo),
    }


def heic(photo: Image.Image) -> bytes:
    import pillow_heif

    pillow_heif.register_heif_opener()
    return encode(photo, "HEIF", quality=90)


def pixel_bomb(width: int = 30000, height: int = 30000) -> bytes:
    """A real 1-bit PNG of width x height (about 100 KB): decoding it would need gigabytes."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        body = kind + data
        return struct.pack(">I", len(data)) + body + struct.pack(">I", zlib.crc32(body))

    compressor = zlib.compressobj(9)
    row = b"\x00" * (1 + (width + 7) // 8)  # filter byte + packed bits
    idat = b"".join(compressor.compress(row) for _ in range(height)) + compressor.flush()
    header = struct.pack(">IIBBBBB", width, height, 1, 0, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", idat) + chunk(b"IEND", b"")
    )


NOT_IMAGES: dict[str, bytes] = {
    "empty": b"",
    "text": b"hello, this is text\n" * 20,
    "html": b"<!doctype html><html><body><h1>hi</h1></body></html>",
    "svg": b'<svg xmlns="http://www.w3.org/2000/svg" width="10" height="10"></svg>',
    "pdf": b"%PDF-1.4\n1 0 obj\n<<>>\nendobj\ntrailer\n<<>>\n%%EOF\n",
    "gzip": gzip.compress(b"not an image" * 100),
    "random": np.random.default_rng(0).integers(0, 256, 5000, dtype=np.uint8).tobytes(),
}


def upload(name: str, data: bytes) -> io.BytesIO:
    """A file to post in a multipart form, with the name a phone would give it."""
    handle = io.BytesIO(data)
    handle.name = name
    return handle
