"""DataComp- and clip-retrieval-layout directories, made by the tests (tiny, realistic layout).

DataComp: ``NNNNNNNN.parquet`` with DataComp's columns and 32-hex uids, plus a row-aligned
``NNNNNNNN.npz`` of float16 ``b32_img``, ``b32_txt``, ``l14_img``, ``l14_txt`` (narrow here:
the layout is real, the widths are small). clip-retrieval: ``img_emb/img_emb_N.npy``,
``text_emb/text_emb_N.npy`` and ``metadata/metadata_N.parquet``.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

DIMS = {"b32_img": 8, "b32_txt": 8, "l14_img": 12, "l14_txt": 12}


@dataclass
class Layout:
    """A sharded input directory and, per row in shard order, its id and float16 arrays."""

    path: Path
    ids: list[str]
    arrays: dict[str, np.ndarray]
    shard_rows: list[int]


def input_config(layout: Layout, fmt: str, **extra: object) -> dict[str, object]:
    """The ``input`` section reading ``layout`` as ``fmt``."""
    return {"path": str(layout.path), "format": fmt, **extra}


def clustered(n: int, dim: int, rng: np.random.Generator, k: int = 4) -> np.ndarray:
    """Unit rows around k random centres (so k-means has something to find)."""
    centres = rng.standard_normal((k, dim))
    x = centres[rng.integers(0, k, n)] + 0.15 * rng.standard_normal((n, dim))
    return (x / np.linalg.norm(x, axis=1, keepdims=True)).astype(np.float16)


def _uids(n: int, rng: np.random.Generator) -> list[str]:
    return [bytes(rng.integers(0, 256, 16, dtype=np.uint8)).hex() for _ in range(n)]


def datacomp_dir(
    root: Path, shard_rows: tuple[int, ...] = (30, 25, 35), seed: int = 7, duplicates: int = 4
) -> Layout:
    """A DataComp metadata directory; the last ``duplicates`` rows of shard 0 repeat its first
    rows' embeddings (near-duplicates for SemDeDup)."""
    rng = np.random.default_rng(seed)
    root.mkdir(parents=True, exist_ok=True)
    ids: list[str] = []
    arrays: dict[str, list[np.ndarray]] = {key: [] for key in DIMS}
    for index, n in enumerate(shard_rows):
        uids = _uids(n, rng)
        shard = {key: clustered(n, dim, rng) for key, dim in DIMS.items()}
        if index == 0:
            for key in DIMS:
                shard[key][-duplicates:] = shard[key][:duplicates]
        img, txt = shard["l14_img"].astype(np.float32), shard["l14_txt"].astype(np.float32)
        table = pa.table(
            {
                "uid": pa.array(uids),
                "url": pa.array([f"https://example.com/{u}.jpg" for u in uids]),
                "text": pa.array([f"caption {u[:6]}" for u in uids]),
                "original_width": pa.array(rng.integers(64, 2048, n), pa.int64()),
                "original_height": pa.array(rng.integers(64, 2048, n), pa.int64()),
                "clip_b32_similarity_score": pa.array(rng.random(n), pa.float32()),
                "clip_l14_similarity_score": pa.array((img * txt).sum(1), pa.float32()),
                "face_bboxes": pa.array(
                    [[[0.1, 0.2, 0.3, 0.4]] if i % 5 == 0 else [] for i in range(n)],
                    pa.list_(pa.list_(pa.float64())),
                ),
                "sha256": pa.array([f"{u}{u}" for u in uids]),
            }
        )
        stem = f"{index:08d}"
        pq.write_table(table, root / f"{stem}.parquet")
        save = np.savez_compressed if index % 2 else np.savez
        save(root / f"{stem}.npz", **shard)
        ids += uids
        for key in DIMS:
            arrays[key].append(shard[key])
    return Layout(root, ids, {k: np.concatenate(v) for k, v in arrays.items()}, list(shard_rows))


def clip_retrieval_dir(
    root: Path, shard_rows: tuple[int, ...] = (40, 30), seed: int = 11
) -> Layout:
    """A clip-retrieval output directory (``key`` ids as img2dataset writes them)."""
    rng = np.random.default_rng(seed)
    for sub in ("img_emb", "text_emb", "metadata"):
        (root / sub).mkdir(parents=True, exist_ok=True)
    ids: list[str] = []
    img_all, txt_all = [], []
    for index, n in enumerate(shard_rows):
        keys = [f"{len(ids) + i:09d}" for i in range(n)]
        img, txt = clustered(n, 10, rng), clustered(n, 10, rng)
        np.save(root / "img_emb" / f"img_emb_{index}.npy", img)
        np.save(root / "text_emb" / f"text_emb_{index}.npy", txt)
        table = pa.table(
            {
                "image_path": pa.array([f"{k}.jpg" for k in keys]),
                "caption": pa.array([f"a photo {k}" for k in keys]),
                "url": pa.array([f"https://example.org/{k}.jpg" for k in keys]),
                "key": pa.array(keys),
            }
        )
        pq.write_table(table, root / "metadata" / f"metadata_{index}.parquet")
        ids += keys
        img_all.append(img)
        txt_all.append(txt)
    arrays = {"img_emb": np.concatenate(img_all), "text_emb": np.concatenate(txt_all)}
    return Layout(root, ids, arrays, list(shard_rows))
