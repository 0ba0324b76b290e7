"""Image decoding shared by embed and the report: white background, bombs, thumbnails, reasons."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import pytest
from PIL import Image, ImageDraw

from spark_prune.images import (
    TOO_LARGE,
    decode_rgb,
    load_rgb,
    read_image_bytes,
    thumbnail_png,
    to_rgb_on_white,
)
from tests.run_fixture import png_bytes


def _png(image: Image.Image, **params: object) -> bytes:
    out = io.BytesIO()
    image.save(out, format="PNG", **params)
    return out.getvalue()


def _shape() -> Image.Image:
    """A red disc on transparent black, 200 px."""
    shape = Image.new("RGBA", (200, 200), (0, 0, 0, 0))
    ImageDraw.Draw(shape).ellipse((20, 20, 180, 180), fill=(200, 30, 30, 255))
    return shape


def test_transparent_pngs_decode_on_white() -> None:
    shape = _shape()
    palette = shape.convert("RGB").quantize(8)
    corner = palette.getpixel((0, 0))
    for data in (_png(shape), _png(shape.convert("LA")), _png(palette, transparency=corner)):
        rgb, reason = decode_rgb(data)
        assert reason is None and rgb.mode == "RGB" and rgb.size == (200, 200)
        assert rgb.getpixel((2, 2)) == (255, 255, 255)
        assert max(rgb.getpixel((100, 100))) < 255  # the disc itself is not whitened
    assert decode_rgb(_png(shape))[0].getpixel((100, 100)) == (200, 30, 30)
    assert to_rgb_on_white(shape).getpixel((2, 2)) == (255, 255, 255)
    assert shape.convert("RGB").getpixel((2, 2)) == (0, 0, 0)  # what a bare convert gives


def test_bad_input_is_a_reason_not_an_exception(tmp_path: Path) -> None:
    assert decode_rgb(b"not a png") == (None, "image: cannot decode (UnidentifiedImageError)")
    assert decode_rgb(_png(_shape())[:60])[1] == "image: cannot decode (OSError)"
    assert load_rgb(None) == (None, "image: null")
    assert load_rgb(b"") == (None, "image: empty")
    missing = str(tmp_path / "missing.png")
    assert load_rgb(missing, "path") == (None, "image: cannot read (FileNotFoundError)")
    assert thumbnail_png(b"not a png") == (None, "image: cannot decode (UnidentifiedImageError)")
    assert thumbnail_png(None) == (None, "image: null")


def test_paths_and_file_uris_are_read(tmp_path: Path) -> None:
    data = png_bytes(5)
    path = tmp_path / "a.png"
    path.write_bytes(data)
    assert read_image_bytes(str(path)) == data
    assert read_image_bytes(path.as_uri()) == data
    rgb, reason = load_rgb(path.as_uri(), "path")
    assert reason is None and rgb.size == (24, 24)


def test_decompression_bomb_is_a_recorded_reason(recwarn: pytest.WarningsRecorder) -> None:
    huge = _png(Image.new("1", (20_000, 10_000)))  # 2e8 pixels, a few KB as PNG
    assert decode_rgb(huge) == (None, TOO_LARGE)
    big = _png(Image.new("1", (10_000, 9_000)))  # over Pillow's warning limit, under its error
    rgb, reason = decode_rgb(big)
    assert reason is None and rgb.size == (10_000, 9_000)
    assert thumbnail_png(big, max_pixels=50_000_000) == (
        None,
        "image: too large for a thumbnail (over 50,000,000 pixels)",
    )
    assert not [w for w in recwarn if issubclass(w.category, Image.DecompressionBombWarning)]


def test_thumbnail_size_format_and_white_background() -> None:
    wide = _png(Image.new("RGBA", (1000, 250), (255, 0, 0, 0)))
    thumb, reason = thumbnail_png(wide, 64)
    assert reason is None and thumb is not None
    with Image.open(io.BytesIO(thumb)) as image:
        assert image.format == "PNG" and image.mode == "RGB"
        assert image.size == (64, 16)
        assert image.getpixel((0, 0)) == (255, 255, 255)  # transparency flattened on white
    small, _ = thumbnail_png(png_bytes(3, size=10), 64)
    assert small is not None
    with Image.open(io.BytesIO(small)) as image:
        assert image.size == (10, 10)  # never enlarged
    rng = np.random.default_rng(0)
    noise = rng.integers(0, 255, (1200, 900, 3), dtype=np.uint8)
    palette, _ = thumbnail_png(_png(Image.fromarray(noise).quantize(64)), 64)
    assert palette is not None
    with Image.open(io.BytesIO(palette)) as image:
        assert image.size == (48, 64) and image.mode == "RGB"


def test_thumbnail_edges_have_no_dark_fringe() -> None:
    """Flattened on white before the resize: a transparent disc's edge blends with white, as
    the exact (float) flatten-then-resize does, not with the black under the transparency."""
    shape = _shape()
    thumb, _ = thumbnail_png(_png(shape), 64)
    assert thumb is not None
    with Image.open(io.BytesIO(thumb)) as image:
        got = np.asarray(image.convert("RGB"), dtype=float)
    pixels = np.asarray(shape, dtype=float)
    alpha = pixels[..., 3:] / 255
    flat = pixels[..., :3] * alpha + 255 * (1 - alpha)
    channels = [Image.fromarray(flat[..., c].astype(np.float32), "F") for c in range(3)]
    resized = [np.asarray(c.resize((64, 64), Image.Resampling.LANCZOS)) for c in channels]
    expected = np.clip(np.stack(resized, axis=2), 0, 255)
    assert np.abs(got - expected).max() < 10
    assert np.abs(got - expected).mean() < 0.5
