"""clip-retrieval / LAION embedding shards: ``img_emb/img_emb_N.npy`` (and
``text_emb/text_emb_N.npy``) row-aligned with ``metadata/metadata_N.parquet``, as
clip-retrieval's inference writes them and LAION publishes them."""

from __future__ import annotations

import re

from spark_prune.config import SHARDED_EMBEDDING_KEYS
from spark_prune.formats.errors import ShardError
from spark_prune.formats.shards import Shard, join_uri, list_files

DEFAULT_KEY = SHARDED_EMBEDDING_KEYS["clip-retrieval"][0]


def _numbered(files: list[str], prefix: str, suffix: str) -> dict[int, str]:
    """Shard number -> file name; two names for one number (``_1`` and ``_01``) are an error."""
    pattern = re.compile(rf"^{re.escape(prefix)}_(\d+){re.escape(suffix)}$")
    numbered: dict[int, str] = {}
    for name in files:
        if (found := pattern.match(name)) is None:
            continue
        number = int(found.group(1))
        if number in numbered:
            raise ShardError(
                f"shard {number}: {numbered[number]} and {name} are both shard {number}; "
                f"keep one of them"
            )
        numbered[number] = name
    return numbered


def find_shards(path: str, key: str | None) -> list[Shard]:
    """Every ``metadata_N.parquet`` paired with ``<key>_N.npy``, sorted by N."""
    key = key or DEFAULT_KEY
    meta_dir, emb_dir = join_uri(path, "metadata"), join_uri(path, key)
    metadata = _numbered(list_files(meta_dir), "metadata", ".parquet")
    arrays = _numbered(list_files(emb_dir), key, ".npy")
    lonely = sorted(set(arrays) - set(metadata))
    if lonely:
        raise ShardError(
            f"shard {lonely[0]}: {arrays[lonely[0]]} has no metadata_{lonely[0]}.parquet"
        )
    shards = []
    for n in sorted(metadata):
        if n not in arrays:
            raise ShardError(f"shard {n}: {metadata[n]} has no {key}/{key}_{n}.npy")
        shards.append(
            Shard(
                name=str(n),
                parquet=join_uri(meta_dir, metadata[n]),
                array=join_uri(emb_dir, arrays[n]),
            )
        )
    return shards
