"""DataComp metadata shards: ``NNNNNNNN.parquet`` + a row-aligned ``NNNNNNNN.npz``.

The Parquet file holds ``uid`` (32 hex digits), ``url``, ``text``, ``original_width``,
``original_height``, ``clip_b32_similarity_score``, ``clip_l14_similarity_score``,
``face_bboxes`` and ``sha256``; the ``.npz`` holds float16 arrays ``b32_img``, ``b32_txt``,
``l14_img`` and ``l14_txt`` (OpenAI CLIP ViT-B/32 and ViT-L/14 image and text embeddings).
"""

from __future__ import annotations

from spark_prune.config import SHARDED_EMBEDDING_KEYS
from spark_prune.formats.errors import ShardError
from spark_prune.formats.shards import Shard, join_uri, list_files

DEFAULT_KEY = SHARDED_EMBEDDING_KEYS["datacomp"][0]


def find_shards(path: str, key: str | None) -> list[Shard]:
    """Every ``<stem>.parquet`` under ``path`` paired with ``<stem>.npz``, sorted by stem."""
    files = set(list_files(path))
    stems = sorted(f.removesuffix(".parquet") for f in files if f.endswith(".parquet"))
    arrays = {f.removesuffix(".npz") for f in files if f.endswith(".npz")}
    lonely = sorted(arrays - set(stems))
    if lonely:
        raise ShardError(f"shard {lonely[0]}: {lonely[0]}.npz in {path!r} has no .parquet")
    shards = []
    for stem in stems:
        if stem not in arrays:
            raise ShardError(f"shard {stem}: {stem}.parquet in {path!r} has no {stem}.npz")
        shards.append(
            Shard(
                name=stem,
                parquet=join_uri(path, f"{stem}.parquet"),
                array=join_uri(path, f"{stem}.npz"),
                member=key or DEFAULT_KEY,
            )
        )
    return shards
