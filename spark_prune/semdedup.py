"""SemDeDup (Abbas et al. 2023), exact at any cluster size.

Inside each k-means cluster, rows are put in order (``hard``: farthest from the centroid first,
ties by id); row j's ``max_sim`` is its largest similarity to any earlier row and its partner is
that row. Row j is removed iff ``max_sim > 1 − eps``, comparing against earlier rows whether or
not they were removed themselves. Storing ``max_sim`` and ``partner`` lets any eps be applied
later without recomputing similarities.

Clusters are processed whole (never split into chunks that miss cross-chunk pairs), in square
blocks of ``block_size`` rows, so memory is O(cluster·d + block²).
"""

from __future__ import annotations

import logging
import math
from dataclasses import replace
from typing import Any

import numpy as np
import pyarrow as pa
from pyspark.sql import Column, DataFrame
from pyspark.sql import functions as F
from pyspark.sql import types as T

from spark_prune.assign import assign_clusters
from spark_prune.config import SemDedupConfig
from spark_prune.kmeans import fit_kmeans
from spark_prune.vectors import arrow_list_to_matrix, hash_key, l2_normalize

log = logging.getLogger(__name__)

# Measured on one 2-core machine (float64 products, d = 512): used only for the cost warning.
PAIRS_PER_SECOND_AT_512 = 2.0e8
ORDER_KEY = "_semdedup_order_key"


def semdedup_removed(max_sim: Column, eps: float) -> Column:
    """The removal rule on stored values: ``max_sim > 1 − eps`` (no earlier row: kept)."""
    return F.coalesce(max_sim > F.lit(1.0 - eps), F.lit(False))


def removed_mask(max_sim: np.ndarray, eps: float) -> np.ndarray:
    """The same rule in numpy (NaN = no earlier row = kept)."""
    with np.errstate(invalid="ignore"):
        return np.asarray(np.nan_to_num(max_sim, nan=-np.inf) > 1.0 - eps)


def order_within_cluster(
    dist: np.ndarray, ids: np.ndarray, order: str, random_key: np.ndarray | None = None
) -> np.ndarray:
    """Processing order: ``hard`` (dist descending), ``easy`` (ascending) or ``random`` (by a
    seeded hash of the id computed by Spark); ties always by id ascending."""
    if order == "hard":
        return np.lexsort((ids, -dist))
    if order == "easy":
        return np.lexsort((ids, dist))
    if order == "random":
        if random_key is None:
            raise ValueError("order 'random' needs the hashed id key")
        return np.lexsort((ids, random_key))
    raise ValueError(f"semdedup.order must be hard, easy or random, got {order!r}")


def max_similarity_to_earlier(x: np.ndarray, block_size: int) -> tuple[np.ndarray, np.ndarray]:
    """For rows in processing order: (max similarity to an earlier row, index of that row).

    The first row has NaN and partner -1. Ties go to the earliest row. Products are float64,
    rounded to float32, so the answer does not depend on the block size (BLAS kernels differ
    by shape; the rounding absorbs their last-bit differences).
    """
    n = x.shape[0]
    best = np.full(n, -np.inf, dtype=np.float64)
    partner = np.full(n, -1, dtype=np.int64)
    x64 = np.asarray(x, dtype=np.float64)
    for start in range(0, n, block_size):
        stop = min(start + block_size, n)
        rows = x64[start:stop]
        for left in range(0, stop, block_size):
            right = min(left + block_size, stop)
            sims = (rows @ x64[left:right].T).astype(np.float32).astype(np.float64)
            if right > start:  # the diagonal tile: only columns strictly before the row
                col = np.arange(left, right)[None, :]
                row = np.arange(start, stop)[:, None]
                sims[col >= row] = -np.inf
            arg = sims.argmax(axis=1)
            value = sims[np.arange(stop - start), arg]
            better = value > best[start:stop]  # strictly: earlier blocks win ties
            best[start:stop][better] = value[better]
            partner[start:stop][better] = left + arg[better]
    best[partner < 0] = np.nan
    return best, partner


def dedup_cluster(
    ids: np.ndarray,
    dist: np.ndarray,
    x: np.ndarray,
    order: str,
    block_size: int,
    random_key: np.ndarray | None = None,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """One cluster in numpy: (ids in processing order, max_sim, partner position or -1)."""
    perm = order_within_cluster(dist, ids, order, random_key)
    max_sim, partner_pos = max_similarity_to_earlier(l2_normalize(x[perm]), block_size)
    ordered_ids = ids[perm]
    return ordered_ids, max_sim, partner_pos


def default_k(cfg: SemDedupConfig, n_rows: int) -> int:
    if cfg.kmeans.k > 0:
        return cfg.kmeans.k
    return max(1, math.ceil(n_rows / cfg.rows_per_cluster))


def output_schema(id_field: T.StructField) -> T.StructType:
    return T.StructType(
        [
            id_field,
            T.StructField("semdedup_cluster_id", T.IntegerType(), False),
            T.StructField("semdedup_dist", T.DoubleType(), False),
            T.StructField("semdedup_max_sim", T.DoubleType(), True),
            T.StructField("semdedup_partner", id_field.dataType, True),
        ]
    )


def _cluster_function(id_col: str, emb_col: str, dim: int, cfg: SemDedupConfig) -> Any:
    def process(table: pa.Table) -> pa.Table:
        ids = table.column(id_col).to_numpy()
        dist = table.column("semdedup_dist").to_numpy()
        key = table.column(ORDER_KEY).to_numpy() if ORDER_KEY in table.column_names else None
        x = arrow_list_to_matrix(table.column(emb_col), dim)
        perm = order_within_cluster(dist, ids, cfg.order, key)
        max_sim, partner_pos = max_similarity_to_earlier(l2_normalize(x[perm]), cfg.block_size)
        has_partner = partner_pos >= 0
        partner_ids = ids[perm][np.where(has_partner, partner_pos, 0)]
        cluster = table.column("semdedup_cluster_id").take(pa.array(perm))
        return pa.Table.from_arrays(
            [
                table.column(id_col).take(pa.array(perm)).combine_chunks(),
                cluster.combine_chunks(),
                pa.array(dist[perm], pa.float64()),
                pa.array(max_sim, pa.float64(), mask=~has_partner),
                pa.array(partner_ids, table.schema.field(id_col).type, mask=~has_partner),
            ],
            names=[
                id_col,
                "semdedup_cluster_id",
                "semdedup_dist",
                "semdedup_max_sim",
                "semdedup_partner",
            ],
        )

    return process


def warn_about_largest_cluster(assigned: DataFrame, dim: int) -> dict[str, Any]:
    """Log the largest cluster and its estimated cost before the quadratic step."""
    sizes = assigned.groupBy("semdedup_cluster_id").count()
    row = sizes.orderBy(F.desc("count"), "semdedup_cluster_id").first()
    if row is None:
        return {"largest_cluster": None, "largest_cluster_rows": 0, "pairs_total": 0}
    total = sizes.select(F.sum(F.col("count") * (F.col("count") - 1) / 2)).first()
    largest, rows = int(row["semdedup_cluster_id"]), int(row["count"])
    pairs = rows * (rows - 1) // 2
    seconds = pairs / (PAIRS_PER_SECOND_AT_512 * 512 / max(dim, 1))
    log.warning(
        "SemDeDup: largest cluster %d has %d rows (%.3g pairs, about %.0f s on one core)",
        largest,
        rows,
        pairs,
        seconds,
    )
    return {
        "largest_cluster": largest,
        "largest_cluster_rows": rows,
        "pairs_total": int(total[0]) if total and total[0] is not None else 0,
    }


def semdedup(
    df: DataFrame, cfg: SemDedupConfig, id_col: str, emb_col: str, dim: int, n_rows: int
) -> tuple[DataFrame, dict[str, Any]]:
    """``id, semdedup_cluster_id, semdedup_dist, semdedup_max_sim, semdedup_partner`` for every
    row of ``df`` (valid embeddings only), and facts for the manifest."""
    k = default_k(cfg, n_rows)
    km = fit_kmeans(df, id_col, emb_col, dim, n_rows, replace(cfg.kmeans, k=k))
    assigned = assign_clusters(
        df,
        km.centroids,
        id_col,
        emb_col,
        dim,
        cluster_col="semdedup_cluster_id",
        dist_col="semdedup_dist",
        passthrough=[emb_col],
    )
    info = {
        "kmeans": km.describe(),
        "eps": cfg.eps,
        "order": cfg.order,
        "block_size": cfg.block_size,
        "similarity_dtype": "float64 products rounded to float32",
    }
    info.update(warn_about_largest_cluster(assigned.select("semdedup_cluster_id"), dim))
    if cfg.order == "random":
        assigned = assigned.withColumn(ORDER_KEY, hash_key(id_col, cfg.seed))
    schema = output_schema(df.schema[id_col])
    result = assigned.groupBy("semdedup_cluster_id").applyInArrow(
        _cluster_function(id_col, emb_col, dim, cfg), schema
    )
    return result, info
