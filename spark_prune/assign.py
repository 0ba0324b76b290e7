"""Nearest-centroid assignment inside ``mapInArrow``: a blocked matrix product per Arrow batch."""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence

import numpy as np
import pyarrow as pa
from pyspark.sql import DataFrame
from pyspark.sql import types as T

from spark_prune.vectors import arrow_list_to_matrix, l2_normalize

# Bound on the (rows x centroids) similarity block held at once, in float32 entries.
MAX_BLOCK_ENTRIES = 32 * 1024 * 1024


def nearest_centroids(x: np.ndarray, centroids: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """For unit rows ``x`` and unit ``centroids``: (cluster id, cosine distance 1 - <x, c>).

    Ties go to the lowest cluster id (argmax returns the first maximum). The product runs in
    float64 and is rounded to float32: BLAS picks different kernels (and summation orders) for
    different batch shapes, and the rounding makes every row's result independent of the batch
    it arrived in, so decisions do not depend on partitioning. 1 - s is formed in float64.
    """
    n = x.shape[0]
    ids = np.empty(n, dtype=np.int32)
    sims = np.empty(n, dtype=np.float32)
    step = max(1, MAX_BLOCK_ENTRIES // max(1, centroids.shape[0]))
    ct = np.ascontiguousarray(centroids.T, dtype=np.float64)
    for start in range(0, n, step):
        s = (x[start : start + step].astype(np.float64) @ ct).astype(np.float32)
        best = s.argmax(axis=1)
        ids[start : start + step] = best
        sims[start : start + step] = s[np.arange(s.shape[0]), best]
    return ids, 1.0 - sims.astype(np.float64)


def assign_clusters(
    df: DataFrame,
    centroids: np.ndarray,
    id_col: str,
    emb_col: str,
    dim: int,
    cluster_col: str = "cluster_id",
    dist_col: str = "dist",
    passthrough: Sequence[str] = (),
) -> DataFrame:
    """Rows of ``df`` (valid embeddings only) -> ``id, passthrough..., cluster_id, dist``.

    The centroid matrix travels inside the function's closure (fine up to tens of MB and it
    works on Spark Connect, where broadcast variables do not exist).
    """
    centroids = np.ascontiguousarray(centroids, dtype=np.float32)
    source = df.select(*dict.fromkeys([id_col, *passthrough, emb_col]))
    out_fields = [source.schema[id_col]] + [source.schema[c] for c in passthrough]
    schema = T.StructType(
        out_fields
        + [
            T.StructField(cluster_col, T.IntegerType(), False),
            T.StructField(dist_col, T.DoubleType(), False),
        ]
    )
    keep = [id_col, *passthrough]

    def assign_batches(batches: Iterable[pa.RecordBatch]) -> Iterator[pa.RecordBatch]:
        for batch in batches:
            x = l2_normalize(arrow_list_to_matrix(batch.column(emb_col), dim))
            cluster, dist = nearest_centroids(x, centroids)
            columns = [batch.column(c) for c in keep]
            columns += [pa.array(cluster, pa.int32()), pa.array(dist, pa.float64())]
            yield pa.RecordBatch.from_arrays(columns, names=[*keep, cluster_col, dist_col])

    return source.mapInArrow(assign_batches, schema)
