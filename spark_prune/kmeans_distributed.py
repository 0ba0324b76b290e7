"""Spherical k-means as Spark aggregations: no sample on the driver, only k × d sums.

The training rows are the rows whose seeded hash of the id falls below a cutoff (the same hash
as the driver sample, so the set does not depend on partitioning); they are kept as unit
float32 vectors. The first centroids are the k training rows with the smallest hash. Each Lloyd
iteration is one Spark job: ``mapInArrow`` assigns every row of a partition to its nearest
centroid and emits that partition's exact fixed-point sums per cluster
(``core.lloyd.partial_sums``); a ``groupBy`` on the cluster id adds them up (int64, so any
order gives the same totals) and only the k rows of sums reach the driver, which renormalises
(``core.lloyd.update_centroids``; an empty cluster keeps its centroid). Iterations stop early
once the centroids no longer change.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Iterator

import numpy as np
import pyarrow as pa
from pyspark import StorageLevel
from pyspark.sql import DataFrame
from pyspark.sql import functions as F
from pyspark.sql import types as T

from spark_prune.config import KMeansConfig
from spark_prune.core.lloyd import mean_cosine, partial_sums, update_centroids
from spark_prune.core.vectors import (
    arrow_list_to_matrix,
    binary_to_matrix,
    l2_normalize,
    matrix_to_binary,
)
from spark_prune.kmeans import KMeansResult, sample_embeddings, sample_size_for
from spark_prune.order_columns import hash_key

log = logging.getLogger(__name__)

VECTOR = "_kmeans_x"
CLUSTER = "cluster"
TOTALS = ["rows", "similarity"]


def sum_columns(dim: int) -> list[str]:
    return [f"s{i}" for i in range(dim)]


def training_rows(
    df: DataFrame, id_col: str, emb_col: str, dim: int, size: int, seed: int, n_rows: int
) -> DataFrame:
    """About ``size`` rows (those whose seeded id hash is below the matching quantile) as unit
    float32 vectors in a binary column, persisted: the iterations read them many times."""
    fraction = size / max(n_rows, 1)
    source = df.select(emb_col)
    if fraction < 1.0:
        cutoff = int(-(2**63) + fraction * (2**64 - 1))
        source = df.filter(hash_key(id_col, seed) <= F.lit(cutoff)).select(emb_col)
    schema = T.StructType([T.StructField(VECTOR, T.BinaryType(), False)])

    def to_unit(batches: Iterable[pa.RecordBatch]) -> Iterator[pa.RecordBatch]:
        for batch in batches:
            x = l2_normalize(arrow_list_to_matrix(batch.column(emb_col), dim))
            yield pa.RecordBatch.from_arrays([matrix_to_binary(x)], names=[VECTOR])

    return source.mapInArrow(to_unit, schema).persist(StorageLevel.MEMORY_AND_DISK)


def _partials_function(
    centroids: np.ndarray, dim: int
) -> Callable[[Iterable[pa.RecordBatch]], Iterator[pa.RecordBatch]]:
    """One partition -> one row per cluster it touched: rows, similarity sum, vector sums."""
    k = centroids.shape[0]
    names = [CLUSTER, *TOTALS, *sum_columns(dim)]

    def run(batches: Iterable[pa.RecordBatch]) -> Iterator[pa.RecordBatch]:
        totals = np.zeros((k, 2), dtype=np.int64)
        sums = np.zeros((k, dim), dtype=np.int64)
        for batch in batches:
            cluster, counts, sims, vec = partial_sums(
                binary_to_matrix(batch.column(0), dim), centroids
            )
            totals[cluster, 0] += counts
            totals[cluster, 1] += sims
            sums[cluster] += vec
        hit = np.flatnonzero(totals[:, 0])
        columns = [
            pa.array(hit.astype(np.int32)),
            pa.array(totals[hit, 0]),
            pa.array(totals[hit, 1]),
        ]
        columns += [pa.array(sums[hit, i]) for i in range(dim)]
        yield pa.RecordBatch.from_arrays(columns, names=names)

    return run


def lloyd_step(
    train: DataFrame, centroids: np.ndarray, dim: int
) -> tuple[np.ndarray, np.ndarray, int]:
    """One iteration: (new centroids, rows per cluster, fixed-point similarity sum)."""
    fields = [T.StructField(CLUSTER, T.IntegerType(), False)]
    fields += [T.StructField(c, T.LongType(), False) for c in [*TOTALS, *sum_columns(dim)]]
    partials = train.mapInArrow(_partials_function(centroids, dim), T.StructType(fields))
    totals = partials.groupBy(CLUSTER).agg(
        *[F.sum(c).alias(c) for c in [*TOTALS, *sum_columns(dim)]]
    )
    table = totals.toArrow()
    cluster = table.column(CLUSTER).to_numpy().astype(np.int64)
    counts = table.column("rows").to_numpy().astype(np.int64)
    sums = np.stack([table.column(c).to_numpy() for c in sum_columns(dim)], axis=1)
    if not len(cluster):
        sums = np.zeros((0, dim), dtype=np.int64)
    sizes = np.zeros(centroids.shape[0], dtype=np.int64)
    sizes[cluster] = counts
    similarity = int(sum(int(v) for v in table.column("similarity").to_pylist()))
    return update_centroids(centroids, cluster, counts, sums), sizes, similarity


def fit_distributed(
    df: DataFrame,
    id_col: str,
    emb_col: str,
    dim: int,
    n_rows: int,
    cfg: KMeansConfig,
    label: str = "k-means",
) -> tuple[KMeansResult, np.ndarray]:
    """(centroids, estimated rows per cluster over all ``n_rows``) by distributed Lloyd."""
    size = sample_size_for(cfg, n_rows)
    train = training_rows(df, id_col, emb_col, dim, size, cfg.seed, n_rows)
    try:
        n_train = train.count()
        if n_train == 0:
            raise ValueError(f"{label}: no valid embeddings to fit on")
        k = min(cfg.k, n_train)
        if k < cfg.k:
            log.warning("%s: only %d training rows for k=%d; using k=%d", label, n_train, cfg.k, k)
        centroids = l2_normalize(sample_embeddings(df, id_col, emb_col, dim, k, cfg.seed, n_rows))
        log.info("%s: distributed Lloyd, k=%d on %d rows (dim %d)", label, k, n_train, dim)
        sizes, similarity, done = np.zeros(k, dtype=np.int64), 0, 0
        for done in range(1, cfg.iterations + 1):
            new, sizes, similarity = lloyd_step(train, centroids, dim)
            unchanged = np.array_equal(new, centroids)
            centroids = new
            if unchanged:
                log.info("%s: converged after %d iterations", label, done)
                break
    finally:
        train.unpersist()
    objective = mean_cosine(n_train, similarity) * n_train
    result = KMeansResult(centroids, n_train, done, cfg.seed, objective, method="distributed")
    return result, sizes * (n_rows / n_train)
