"""ml.images: what is accepted (and comes out identical), what is refused, and how."""

from __future__ import annotations

import gzip
import io
import time

import numpy as np
import pytest
from PIL import Image

from ml.images import ImageTooLarge, NotAnImage, UnreadableImage, crop_box, load_rgb

from .photos import BIRD_JPEG


@pytest.fixture(scope="module")
def photo() -> Image.Image:
    return Image.open(BIRD_JPEG).convert("RGB")


def encode(image: Image.Image, fmt: str, **kwargs) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, fmt, **kwargs)
    return buffer.getvalue()


def test_real_photo_path_bytes_and_pil_agree(photo):
    from_path = load_rgb(BIRD_JPEG)
    assert from_path.shape == (224, 224, 3) and from_path.dtype == np.uint8
    assert np.array_equal(from_path, load_rgb(BIRD_JPEG.read_bytes()))
    assert np.array_equal(from_path, load_rgb(Image.open(BIRD_JPEG)))


@pytest.mark.parametrize("fmt", ["PNG", "WEBP", "BMP", "TIFF"])
def test_lossless_formats_give_the_same_array(photo, fmt):
    kwargs = {"lossless": True} if fmt == "WEBP" else {}
    assert np.array_equal(load_rgb(encode(photo, fmt, **kwargs)), load_rgb(photo))


def test_jpeg_named_png_is_read_by_content(tmp_path, photo):
    path = tmp_path / "photo.png"
    path.write_bytes(encode(photo, "JPEG", quality=95))
    assert load_rgb(path).shape == (224, 224, 3)


def test_rgba_is_composited_over_white(photo):
    rgba = photo.convert("RGBA")
    rgba.putalpha(0)
    assert (load_rgb(encode(rgba, "PNG")) == 255).all()


def test_palette_gif_and_grey_and_cmyk(photo):
    for image, fmt in [
        (photo.convert("P"), "GIF"),
        (photo.convert("L"), "PNG"),
        (photo.convert("CMYK"), "JPEG"),
    ]:
        rgb = load_rgb(encode(image, fmt))
        assert rgb.shape == (224, 224, 3)
        assert abs(rgb.astype(int).mean() - np.asarray(photo).mean()) < 25


def test_16_bit_png_is_scaled_not_clipped(photo):
    grey16 = (np.asarray(photo.convert("L"), dtype=np.uint16) * 257).astype(np.uint16)
    data = encode(Image.fromarray(grey16), "PNG")
    assert Image.open(io.BytesIO(data)).mode.startswith("I")
    rgb = load_rgb(data)
    expected = load_rgb(photo.convert("L"))
    assert np.abs(rgb.astype(int) - expected.astype(int)).max() <= 1


def test_exif_orientation_is_applied():
    tall = Image.new("RGB", (100, 200), "white")
    tall.paste((255, 0, 0), (0, 0, 100, 100))  # red top half
    exif = Image.Exif()
    exif[0x0112] = 6  # stored rotated: viewer must rotate 90 degrees clockwise
    data = encode(tall.transpose(Image.Transpose.ROTATE_90), "JPEG", exif=exif, quality=95)
    rgb = load_rgb(data)
    assert rgb[20, 112, 0] > 200 and rgb[20, 112, 1] < 60  # top is red again
    assert rgb[200, 112].min() > 200  # bottom is white


@pytest.mark.parametrize("size", [(1, 1), (16, 16), (4000, 300)])
def test_tiny_and_panorama_images(size):
    assert load_rgb(encode(Image.new("RGB", size, (10, 200, 30)), "PNG"))[0, 0].tolist() == [
        10,
        200,
        30,
    ]


@pytest.mark.parametrize(
    "data",
    [
        b"",
        b"hello, this is text\n",
        b"<!doctype html><html><body>hi</body></html>",
        b'<svg xmlns="http://www.w3.org/2000/svg" width="10" height="10"></svg>',
        b"%PDF-1.4\n1 0 obj\n<<>>\nendobj\ntrailer\n<<>>\n%%EOF\n",
        gzip.compress(b"not an image" * 100),
        np.random.default_rng(0).integers(0, 256, 5000, dtype=np.uint8).tobytes(),
    ],
    ids=["empty", "text", "html", "svg", "pdf", "gzip", "random"],
)
def test_non_images_are_refused(data):
    with pytest.raises(NotAnImage) as info:
        load_rgb(data)
    assert "image" in str(info.value).lower()


def test_pixel_bomb_refused_from_header_fast():
    data = encode(Image.new("1", (30000, 30000)), "PNG")
    started = time.perf_counter()
    with pytest.raises(ImageTooLarge, match=r"megapixels|too many pixels"):
        load_rgb(data)
    assert time.perf_counter() - started < 1.0


def test_max_pixels_is_configurable(photo):
    with pytest.raises(ImageTooLarge, match="megapixels"):
        load_rgb(encode(photo, "PNG"), max_pixels=1000)


def test_truncated_jpeg_gives_a_clear_error(photo):
    data = encode(photo.resize((800, 800)), "JPEG")
    with pytest.raises(UnreadableImage, match="truncated or corrupt"):
        load_rgb(data[: len(data) // 2])


def test_heic_from_phones(photo):
    pytest.importorskip("pillow_heif")
    rgb = load_rgb(encode(photo, "HEIF", quality=95))
    assert np.abs(rgb.astype(int) - load_rgb(photo).astype(int)).mean() < 8


def test_a_large_jpeg_keeps_its_full_size_when_decoded_smaller():
    """Boxes are in full-resolution pixels: the decoded size must not replace the photo's own."""
    from ml.images import DECODE_SIDE, load_photo

    photo = load_photo(encode(Image.new("RGB", (2240, 1120), (10, 200, 30)), "JPEG"))
    assert photo.size == (2240, 1120)
    assert min(photo.image.size) >= DECODE_SIDE and photo.image.size[0] < 2240
    assert photo.scale == 2240 / photo.image.size[0]


def test_crop_box_scales_a_box_of_the_original_to_a_smaller_copy(photo):
    half = photo.resize((photo.width // 2, photo.height // 2))
    cut = crop_box(half, (20, 30, 100, 60), scale=0.5)
    assert cut.size == (50, 30)
    assert np.array_equal(np.asarray(cut), np.asarray(half)[15:45, 10:60])
    # a box reaching past the edge is cut at the edge, never padded
    assert crop_box(half, (half.width * 2 - 20, 0, 40, 40), scale=0.5).size == (10, 20)
