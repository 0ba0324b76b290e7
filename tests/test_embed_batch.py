"""One batch of rows -> embeddings (embed/batch.py): a row's embedding does not depend on its
batch, transparent images on white, oversized images a recorded reason."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("torch")
pytest.importorskip("open_clip")

from spark_prune.embed.batch import _prepare_image, embed_rows
from spark_prune.embed.models import load_model
from spark_prune.images import to_rgb_on_white
from tests.embed_fixtures import CAPTIONS, embed_config, png


def test_batch_composition_does_not_change_a_row(
    checkpoint: Path, variants: list[tuple[str, str, bytes]]
) -> None:
    loaded = load_model(embed_config(checkpoint), "cpu")
    images = [data for _, _, data in variants]
    texts = [CAPTIONS[family] for _, family, _ in variants]
    full = embed_rows(loaded, images, texts, batch_size=4)
    alone = embed_rows(loaded, images[3:4], texts[3:4], batch_size=4)
    reordered = embed_rows(loaded, images[::-1], texts[::-1], batch_size=4)
    assert full.image is not None and alone.image is not None and reordered.image is not None
    assert np.array_equal(full.image[3], alone.image[0])  # type: ignore[arg-type]
    assert np.array_equal(full.image[3], reordered.image[2])  # type: ignore[arg-type]
    assert full.text is not None and alone.text is not None
    assert np.array_equal(full.text[3], alone.text[0])  # type: ignore[arg-type]


def test_transparent_pixels_become_white(checkpoint: Path) -> None:
    from PIL import Image, ImageDraw

    shape = Image.new("RGBA", (96, 96), (0, 0, 0, 0))  # transparent, black underneath
    ImageDraw.Draw(shape).ellipse((20, 20, 76, 76), fill=(200, 30, 30, 255))
    on_white = Image.new("RGB", (96, 96), (255, 255, 255))
    ImageDraw.Draw(on_white).ellipse((20, 20, 76, 76), fill=(200, 30, 30))
    assert to_rgb_on_white(shape).getpixel((2, 2)) == (255, 255, 255)
    assert to_rgb_on_white(shape.convert("LA")).getpixel((2, 2)) == (255, 255, 255)
    loaded = load_model(embed_config(checkpoint), "cpu")
    result = embed_rows(loaded, [png(shape), png(on_white)], None, batch_size=2)
    assert result.image is not None
    assert float(result.image[0] @ result.image[1]) > 0.999  # type: ignore[operator]


def test_image_over_the_pixel_limit_is_a_recorded_reason(recwarn: pytest.WarningsRecorder) -> None:
    from PIL import Image

    huge = Image.new("1", (20_000, 10_000))  # 2e8 pixels, a few KB as PNG
    tensor, reason = _prepare_image(lambda image: image, png(huge), "bytes")
    assert tensor is None
    assert reason == "image: too large (over Pillow's decompression-bomb pixel limit)"
    big = Image.new("1", (10_000, 9_000))  # 9e7: over the warning limit, under the error
    tensor, reason = _prepare_image(lambda image: image.size, png(big), "bytes")
    assert reason is None and tensor == (10_000, 9_000)
    assert not [w for w in recwarn if issubclass(w.category, Image.DecompressionBombWarning)]
