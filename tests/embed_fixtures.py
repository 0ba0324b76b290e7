"""Real images and the real offline open_clip checkpoint for the embedding tests and benchmark.

Images: scikit-learn's two sample photos (``china.jpg``, ``flower.jpg``), their flipped and
resized copies, and crops of them. Model: EfficientNet-Lite0 + all-MiniLM-L6-v2 assembled into
an open_clip model (``spark_prune.demo.offline_model``), built once into
``$SPARK_PRUNE_MODEL_CACHE`` or ``~/.cache/spark_prune/models`` and reused by later sessions.
"""

from __future__ import annotations

import io
import os
from pathlib import Path
from typing import Any

import numpy as np

MODEL_CACHE_ENV = "SPARK_PRUNE_MODEL_CACHE"
DATA_CACHE_ENV = "SPARK_PRUNE_DATA_CACHE"


def data_cache() -> Path:
    """Where real datasets (the openclipart package) are unpacked once and reused."""
    return Path(os.environ.get(DATA_CACHE_ENV) or Path.home() / ".cache" / "spark_prune")


def offline_model() -> dict[str, Any]:
    """The ``embed.*`` keys of the offline model (model, model_config, checkpoint, mean, std)."""
    from spark_prune.demo.offline_model import embed_settings

    return embed_settings(os.environ.get(MODEL_CACHE_ENV) or None)


def offline_overrides() -> list[str]:
    """``offline_model()`` as ``--set`` arguments (``embed.key=value``)."""
    return [f"embed.{key}={value}" for key, value in offline_model().items()]


def offline_checkpoint() -> Path:
    return Path(offline_model()["checkpoint"])


def embed_config(checkpoint: Path | str, **overrides: Any) -> Any:
    from spark_prune.config import EmbedConfig

    model = {k: tuple(v) if isinstance(v, list) else v for k, v in offline_model().items()}
    values: dict[str, Any] = {"enabled": True, **model, "batch_size": 4}
    values.update(checkpoint=str(checkpoint), **overrides)
    return EmbedConfig(**values)


def photos() -> list[Any]:
    """The two real photos as PIL images (640 x 427)."""
    from PIL import Image
    from sklearn.datasets import load_sample_images

    return [Image.fromarray(array) for array in load_sample_images().images]


def jpeg(image: Any, quality: int = 90) -> bytes:
    buffer = io.BytesIO()
    image.convert("RGB").save(buffer, format="JPEG", quality=quality)
    return buffer.getvalue()


def png(image: Any) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return buffer.getvalue()


def photo_variants() -> list[tuple[str, str, bytes]]:
    """(name, family, encoded bytes): each photo, flipped, resized to half, as JPEG or PNG."""
    from PIL import Image

    rows = []
    for family, image in zip(("china", "flower"), photos(), strict=True):
        half = image.resize((image.width // 2, image.height // 2), Image.Resampling.BILINEAR)
        rows += [
            (f"{family}", family, jpeg(image)),
            (f"{family}-flipped", family, jpeg(image.transpose(Image.Transpose.FLIP_LEFT_RIGHT))),
            (f"{family}-half", family, png(half)),
        ]
    return rows


def random_crops(count: int, seed: int = 0, min_side: int = 160) -> list[bytes]:
    """``count`` JPEGs: seeded random crops (various sizes, some flipped) of the two photos."""
    from PIL import Image

    rng = np.random.default_rng(seed)
    sources = photos()
    out = []
    for _ in range(count):
        image = sources[int(rng.integers(len(sources)))]
        side_w = int(rng.integers(min_side, image.width + 1))
        side_h = int(rng.integers(min_side, image.height + 1))
        left = int(rng.integers(0, image.width - side_w + 1))
        top = int(rng.integers(0, image.height - side_h + 1))
        crop = image.crop((left, top, left + side_w, top + side_h))
        if rng.random() < 0.5:
            crop = crop.transpose(Image.Transpose.FLIP_LEFT_RIGHT)
        out.append(jpeg(crop, quality=int(rng.integers(70, 96))))
    return out


CAPTIONS = {
    "china": "an old chinese temple with a pagoda roof",
    "flower": "a close-up photo of a pink flower",
}

PHOTO_SCHEMA = "id long, name string, image binary, caption string"


def photo_frame(spark: Any, variants: list[tuple[str, str, bytes]]) -> Any:
    """``variants`` (``photo_variants()``) as rows: id, name, image bytes, the family's caption."""
    rows = [(i, name, data, CAPTIONS[family]) for i, (name, family, data) in enumerate(variants)]
    return spark.createDataFrame(rows, PHOTO_SCHEMA)


def vectors(df: Any, column: str = "image_emb") -> dict[int, np.ndarray | None]:
    """``column`` of a (small) embedded frame by id, as float32 arrays."""
    return {
        r["id"]: None if r[column] is None else np.asarray(r[column], dtype=np.float32)
        for r in df.select("id", column).collect()
    }
