"""Synthetic embedding tables: unit vectors around centres with very different spreads.

Used by the benchmarks and tests (and the demo's fallback). Generated in chunks with numpy and
written as Parquet by pyarrow, so a million 512-d rows never sit in memory at once.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from spark_prune.core.vectors import l2_normalize, matrix_to_arrow_list


def cluster_centres(k: int, dim: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """k random unit centres and a per-centre spread spanning two orders of magnitude."""
    rng = np.random.default_rng(seed)
    centres = l2_normalize(rng.standard_normal((k, dim)).astype(np.float32))
    spreads = np.exp(rng.uniform(np.log(0.02), np.log(1.0), size=k)).astype(np.float32)
    return centres, spreads


def clustered_embeddings(
    n: int, dim: int, k: int, seed: int, first_id: int = 0, chunk_seed: int | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """(ids, unit embeddings) of n rows drawn around ``cluster_centres(k, dim, seed)``."""
    centres, spreads = cluster_centres(k, dim, seed)
    rng = np.random.default_rng(seed if chunk_seed is None else chunk_seed)
    weights = rng.dirichlet(np.full(k, 2.0))
    which = rng.choice(k, size=n, p=weights)
    noise = rng.standard_normal((n, dim)).astype(np.float32) / np.sqrt(dim)
    x = centres[which] + noise * spreads[which, None]
    ids = np.arange(first_id, first_id + n, dtype=np.int64)
    return ids, l2_normalize(x)


def write_parquet_embeddings(
    path: str | Path,
    n: int,
    dim: int,
    k: int,
    seed: int = 0,
    chunk_rows: int = 100_000,
    id_column: str = "id",
    embedding_column: str = "image_emb",
) -> Path:
    """Write n synthetic rows as Parquet files under ``path`` (one file per chunk)."""
    out = Path(path)
    out.mkdir(parents=True, exist_ok=True)
    for part, start in enumerate(range(0, n, chunk_rows)):
        rows = min(chunk_rows, n - start)
        ids, x = clustered_embeddings(
            rows, dim, k, seed, first_id=start, chunk_seed=seed + part + 1
        )
        table = pa.table(
            {
                id_column: pa.array(ids),
                embedding_column: matrix_to_arrow_list(x),
                "caption": pa.array([f"synthetic row {i}" for i in ids]),
            }
        )
        pq.write_table(table, out / f"part-{part:05d}.parquet")
    return out
