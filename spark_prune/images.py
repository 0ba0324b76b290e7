"""Image bytes -> PIL images, for the embedding stage and the report's thumbnails.

Every function that decodes returns ``(result, None)`` or ``(None, reason)``: a corrupt,
missing or oversized image is a recorded reason for that row, never an exception that fails
a Spark task. Transparent pixels are composited on white (see :func:`to_rgb_on_white`).
Pillow is imported inside the functions, on the executors: importing this module needs
neither Pillow nor torch.
"""

from __future__ import annotations

import io
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

READ_ERROR = "image: cannot read"
"""Prefix of I/O failures (path images): possibly transient, so never kept in the cache."""
TOO_LARGE = "image: too large (over Pillow's decompression-bomb pixel limit)"
THUMB_PX = 64
PRE_REDUCE = 8  # thumbnails of large images: nearest-neighbour to 8x the thumbnail size first
MAX_THUMBNAIL_SOURCE_PIXELS = 40_000_000  # larger sources get no thumbnail (decoding takes s)


def image_bytes(value: Any, kind: str = "bytes") -> tuple[Any, str | None]:
    """The encoded image of a row, ``value`` being its bytes or (``kind="path"``) a location."""
    if value is None:
        return None, "image: null"
    if kind == "path":
        try:
            value = read_image_bytes(str(value))
        except Exception as exc:
            return None, f"{READ_ERROR} ({type(exc).__name__})"
    if len(value) == 0:
        return None, "image: empty"
    return value, None


def read_image_bytes(location: str) -> bytes:
    """Bytes of a local path or ``file:`` URI (incl. /dbfs/ and /Volumes/ FUSE mounts);
    other schemes (s3://, abfss://, gs://) through fsspec when it is installed."""
    parsed = urlparse(location)
    if parsed.scheme in ("", "file") or len(parsed.scheme) == 1:  # len 1: a Windows drive
        local = parsed.path if parsed.scheme == "file" else location
        return Path(local).read_bytes()
    import fsspec  # optional: only for remote URIs

    with fsspec.open(location, "rb") as handle:
        data: bytes = handle.read()
        return data


def load_rgb(value: Any, kind: str = "bytes") -> tuple[Any, str | None]:
    """(RGB image on white, None) for image bytes or a path, or (None, why not)."""
    data, reason = image_bytes(value, kind)
    if reason is not None:
        return None, reason
    return decode_rgb(data)


def decode_rgb(data: bytes) -> tuple[Any, str | None]:
    """(the fully decoded RGB image, transparency on white, None), or (None, why not)."""
    try:
        with _opened(data) as img:
            img.load()
            return to_rgb_on_white(img), None
    except Exception as exc:
        return None, decode_reason(exc)


def thumbnail_png(
    data: bytes | None,
    size: int = THUMB_PX,
    max_pixels: int = MAX_THUMBNAIL_SOURCE_PIXELS,
) -> tuple[bytes | None, str | None]:
    """(a PNG at most ``size`` pixels on its longer side, on white, None), or (None, why not).

    Large sources are first reduced with a cheap nearest-neighbour step in their own mode, so
    a palette image is never expanded to RGB(A) at full size; sources above ``max_pixels``
    (clip art reaches 16,000 px a side) are refused before decoding.
    """
    from PIL import Image

    encoded, reason = image_bytes(data)
    if reason is not None:
        return None, reason
    try:
        with _opened(encoded) as img:
            if img.width * img.height > max_pixels:
                return None, f"image: too large for a thumbnail (over {max_pixels:,} pixels)"
            if max(img.size) > PRE_REDUCE * size:
                img.thumbnail((PRE_REDUCE * size, PRE_REDUCE * size), Image.Resampling.NEAREST)
            rgb = to_rgb_on_white(img)
    except Exception as exc:
        return None, decode_reason(exc)
    rgb.thumbnail((size, size), Image.Resampling.LANCZOS)
    out = io.BytesIO()
    rgb.save(out, format="PNG", optimize=True)
    return out.getvalue(), None


def to_rgb_on_white(img: Any) -> Any:
    """RGB image; transparent pixels become white. A bare ``convert("RGB")`` turns them
    black, so every transparent clip-art image would embed as "shape on black" and look
    like a near duplicate of the others."""
    from PIL import Image

    if img.mode in ("RGBA", "LA", "PA") or (img.mode == "P" and "transparency" in img.info):
        rgba = img.convert("RGBA")
        background = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        return Image.alpha_composite(background, rgba).convert("RGB")
    return img.convert("RGB")


def decode_reason(exc: BaseException) -> str:
    """The recorded reason for an image that Pillow could not open or decode."""
    from PIL import Image

    if isinstance(exc, Image.DecompressionBombError):
        return TOO_LARGE
    return f"image: cannot decode ({type(exc).__name__})"


@contextmanager
def _opened(data: bytes) -> Iterator[Any]:
    """``Image.open`` on ``data``. Pillow warns above ``MAX_IMAGE_PIXELS`` and raises above
    twice that: a huge image decodes (slowly) or becomes its row's reason, never a log line
    per row."""
    from PIL import Image

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", Image.DecompressionBombWarning)
        with Image.open(io.BytesIO(data)) as img:
            yield img
