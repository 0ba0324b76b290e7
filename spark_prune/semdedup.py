"""SemDeDup on Spark: fit, assign, then the exact kernel (``core.semdedup_kernel``) per cluster.

The rule and its numerics are documented in ``spark_prune.core.semdedup_kernel``; this module
only moves rows: every cluster's rows go to one ``applyInArrow`` call, except clusters expected
to exceed ``split_rows``, which ``semdedup_split`` spreads over many tasks (same decisions).
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
import pyarrow as pa
from pyspark import StorageLevel
from pyspark.sql import Column, DataFrame
from pyspark.sql import functions as F
from pyspark.sql import types as T

from spark_prune import contract
from spark_prune.assign import assign_clusters
from spark_prune.clustering import fit_kmeans_sized
from spark_prune.config import SemDedupConfig
from spark_prune.core.ordering import check_order
from spark_prune.core.semdedup_cost import log_largest_cluster, measure_pair_rate
from spark_prune.core.semdedup_kernel import (
    SIMILARITY_DTYPE,
    SIMILARITY_METHOD,
    check_eps,
    dedup_cluster,
)
from spark_prune.core.vectors import binary_to_matrix
from spark_prune.errors import InputError
from spark_prune.order_columns import hash_key
from spark_prune.semdedup_border import (
    GUEST_COL,
    SECOND_COLS,
    combine_contexts,
    context_stats,
    with_guests,
)
from spark_prune.semdedup_split import big_clusters, dedup_with_split

log = logging.getLogger(__name__)

CLUSTER_COL = contract.SEMDEDUP_CLUSTER_ID
DIST_COL = contract.SEMDEDUP_DIST
MAX_SIM_COL = contract.SEMDEDUP_MAX_SIM
PARTNER_COL = contract.SEMDEDUP_PARTNER
REMOVED_COL = "semdedup_removed"
ORDER_KEY = "_semdedup_order_key"
KEEP_KEY = "_semdedup_keep_by"
EMB_BYTES = "_semdedup_embedding"


def semdedup_removed(max_sim: Column, eps: float) -> Column:
    """The same rule on stored values in Spark: ``max_sim > 1 − eps``; null (no earlier row)
    means kept. The threshold is formed in Python float64, exactly as in ``removed_mask``."""
    threshold = 1.0 - check_eps(eps)
    # Spark orders NaN above every number; numpy's NaN compares false: keep NaN rows in both.
    return F.coalesce((max_sim > F.lit(threshold)) & ~F.isnan(max_sim), F.lit(False))


def apply_eps(decisions: DataFrame, eps: float, out_col: str = REMOVED_COL) -> DataFrame:
    """``decisions`` (with ``semdedup_max_sim``) plus a boolean ``out_col`` at this eps."""
    if MAX_SIM_COL not in decisions.columns:
        raise ValueError(f"apply_eps: no {MAX_SIM_COL!r} column in {decisions.columns}")
    return decisions.withColumn(out_col, semdedup_removed(F.col(MAX_SIM_COL), eps))


def default_k(cfg: SemDedupConfig, n_rows: int) -> int:
    """``semdedup.kmeans.k``, or for ``auto`` ceil(rows / rows_per_cluster) (at least 1)."""
    if isinstance(cfg.kmeans.k, int):
        return cfg.kmeans.k
    return max(1, math.ceil(n_rows / cfg.rows_per_cluster))


def output_schema(id_field: T.StructField) -> T.StructType:
    return T.StructType(
        [
            T.StructField(id_field.name, id_field.dataType, False),
            T.StructField(CLUSTER_COL, T.IntegerType(), False),
            T.StructField(DIST_COL, T.DoubleType(), False),
            T.StructField(MAX_SIM_COL, T.DoubleType(), True),
            T.StructField(PARTNER_COL, id_field.dataType, True),
        ]
    )


def _cluster_function(id_col: str, dim: int, cfg: SemDedupConfig) -> Callable[[pa.Table], pa.Table]:
    """One whole cluster (an Arrow table) -> its rows' SemDeDup columns."""

    def process(table: pa.Table) -> pa.Table:
        id_column = table.column(id_col).combine_chunks()
        ids = id_column.to_numpy(zero_copy_only=False)
        dist = table.column(DIST_COL).to_numpy()
        key = table.column(ORDER_KEY).to_numpy() if ORDER_KEY in table.column_names else None
        keep = keep_values(table)
        x = binary_to_matrix(table.column(EMB_BYTES), dim)
        descending = cfg.keep_by is None or cfg.keep_by.order == "desc"
        max_sim, partner = dedup_cluster(
            ids, dist, x, cfg.order, cfg.block_size, key, keep, descending
        )
        columns = result_columns(table, id_column, dist, max_sim, partner)
        names = [id_col, CLUSTER_COL, DIST_COL, MAX_SIM_COL, PARTNER_COL]
        if GUEST_COL in table.column_names:  # border_margin: which context this row is in
            columns.append(table.column(GUEST_COL).combine_chunks())
            names.append(GUEST_COL)
        return pa.Table.from_arrays(columns, names=names)

    return process


def result_columns(
    table: pa.Table, id_column: pa.Array, dist: np.ndarray, max_sim: np.ndarray, partner: np.ndarray
) -> list[pa.Array]:
    """A cluster's output columns (``output_schema``); ``partner``: row index or -1 (null)."""
    none = partner < 0
    return [
        id_column,
        table.column(CLUSTER_COL).combine_chunks(),
        pa.array(dist, pa.float64()),
        pa.array(np.where(none, 0.0, max_sim), pa.float64(), mask=none),
        _null_where(id_column, partner, none),
    ]


def keep_values(table: pa.Table) -> np.ndarray | None:
    """The keep_by column as float64 (null -> NaN, sorted last), or None without keep_by."""
    if KEEP_KEY not in table.column_names:
        return None
    column = table.column(KEEP_KEY).combine_chunks()
    return np.asarray(column.to_numpy(zero_copy_only=False), dtype=np.float64)


def check_keep_by(df: DataFrame, cfg: SemDedupConfig) -> str | None:
    """The keep_by column name, after checking it exists and is numeric (or None)."""
    if cfg.keep_by is None:
        return None
    name = cfg.keep_by.column
    if name not in df.columns:
        raise InputError(f"semdedup.keep_by.column: no column {name!r} in the input")
    if not isinstance(df.schema[name].dataType, T.NumericType):
        raise InputError(
            f"semdedup.keep_by.column: {name!r} is {df.schema[name].dataType.simpleString()}, "
            "not a number"
        )
    return name


def _null_where(id_column: pa.Array, partner: np.ndarray, none: np.ndarray) -> pa.Array:
    """The partner ids (``partner`` indexes ``id_column``), null where there is none."""
    indices = pa.array(np.where(none, 0, partner), pa.int64(), mask=none)
    return id_column.take(indices)


def exact_stats(result: DataFrame, eps: float) -> dict[str, Any]:
    """Counts from the (persisted, small) result: one aggregation, k rows to the driver."""
    per_cluster = (
        result.groupBy(CLUSTER_COL)
        .agg(
            F.count(F.lit(1)).alias("rows"),
            F.sum(semdedup_removed(F.col(MAX_SIM_COL), eps).cast("long")).alias("removed"),
        )
        .toArrow()
    )
    if per_cluster.num_rows == 0:
        return {"rows": 0, "removed": 0, "clusters_nonempty": 0}
    cluster = per_cluster.column(CLUSTER_COL).to_numpy()
    sizes = per_cluster.column("rows").to_numpy().astype(np.int64)
    top = int(np.lexsort((cluster, -sizes))[0])
    return {
        "rows": int(sizes.sum()),
        "removed": int(per_cluster.column("removed").to_numpy().sum()),
        "clusters_nonempty": int(len(sizes)),
        "largest_cluster": int(cluster[top]),
        "largest_cluster_rows": int(sizes[top]),
        "largest_cluster_pairs": int(sizes[top] * (sizes[top] - 1) // 2),
        "pairs_total": int((sizes * (sizes - 1) // 2).sum()),
    }


def _dedup(
    assigned: DataFrame,
    sizes: np.ndarray,
    id_col: str,
    dim: int,
    cfg: SemDedupConfig,
    schema: T.StructType,
) -> tuple[DataFrame, list[int], dict[str, Any] | None]:
    """The persisted result, the clusters split across tasks (``semdedup_split``) and the
    border facts (``semdedup_border``; with ``border_margin`` no cluster is split)."""
    process = _cluster_function(id_col, dim, cfg)
    if cfg.border_margin > 0:
        if big_clusters(sizes, cfg.split_rows):
            log.warning("SemDeDup: border_margin > 0, so no cluster is split (split_rows ignored)")
        result, border_info = _dedup_border(assigned, id_col, cfg.border_margin, schema, process)
        return result, [], border_info
    big = big_clusters(sizes, cfg.split_rows)
    if not big:
        result = assigned.groupBy(CLUSTER_COL).applyInArrow(process, schema)
    else:
        log.info("SemDeDup: clusters %s split across tasks (over %d rows)", big, cfg.split_rows)
        cols = {"id": id_col, "cluster": CLUSTER_COL, "dist": DIST_COL, "emb": EMB_BYTES}
        assigned = assigned.persist(StorageLevel.MEMORY_AND_DISK)
        result = dedup_with_split(
            assigned, big, {**cols, "key": ORDER_KEY, "keep": KEEP_KEY}, dim, cfg, schema, process
        )
    return result.persist(StorageLevel.MEMORY_AND_DISK), big, None


def _dedup_border(
    assigned: DataFrame,
    id_col: str,
    margin: float,
    schema: T.StructType,
    process: Callable[[pa.Table], pa.Table],
) -> tuple[DataFrame, dict[str, Any]]:
    """Each cluster with its guests (rows within ``margin`` of it), then one answer per row."""
    contexts = with_guests(assigned, margin, CLUSTER_COL, DIST_COL)
    with_flag = T.StructType([*schema.fields, T.StructField(GUEST_COL, T.BooleanType())])
    per_context = contexts.groupBy(CLUSTER_COL).applyInArrow(process, with_flag)
    per_context = per_context.persist(StorageLevel.MEMORY_AND_DISK)
    border_info = context_stats(per_context, CLUSTER_COL)
    result = combine_contexts(per_context, id_col, MAX_SIM_COL, PARTNER_COL)
    result = result.persist(StorageLevel.MEMORY_AND_DISK)
    result.count()  # computed and cached before the per-context table is dropped
    per_context.unpersist()
    return result, border_info


@dataclass(frozen=True)
class SemDedupCentroids:
    """SemDeDup's centroids (fitted, or frozen from an earlier run), the id of each row of
    ``vectors``, and the expected rows per cluster (which clusters to split across tasks)."""

    vectors: np.ndarray
    ids: np.ndarray
    sizes: np.ndarray  # indexed by cluster id
    describe: dict[str, Any]
    seconds: float = 0.0


def fit_centroids(
    df: DataFrame, cfg: SemDedupConfig, id_col: str, emb_col: str, dim: int, n_rows: int
) -> SemDedupCentroids:
    """SemDeDup's k-means fitted on ``df`` (k resolved by ``default_k``)."""
    km_cfg = cfg.kmeans.with_k(default_k(cfg, n_rows))
    start = time.perf_counter()
    km, sizes = fit_kmeans_sized(df, id_col, emb_col, dim, n_rows, km_cfg, "semdedup k-means")
    ids = np.arange(km.centroids.shape[0], dtype=np.int32)
    return SemDedupCentroids(km.centroids, ids, sizes, km.describe(), time.perf_counter() - start)


def assign(
    df: DataFrame,
    centroids: SemDedupCentroids,
    cfg: SemDedupConfig,
    id_col: str,
    emb_col: str,
    dim: int,
    extra: tuple[str, ...] = (),
) -> DataFrame:
    """Rows -> ``id, embedding bytes, semdedup_cluster_id, semdedup_dist`` (+ the order key, the
    keep_by value, and with ``border_margin`` the second-nearest centroid and its distance).
    ``extra``: columns of ``df`` passed through as they are."""
    keep_by = check_keep_by(df, cfg)
    assigned = assign_clusters(
        df,
        centroids.vectors,
        id_col,
        emb_col,
        dim,
        CLUSTER_COL,
        DIST_COL,
        passthrough=[*([keep_by] if keep_by else []), *extra],
        embedding_bytes_col=EMB_BYTES,
        second_cols=SECOND_COLS if cfg.border_margin > 0 else None,
        cluster_ids=centroids.ids,
    )
    if keep_by:
        assigned = assigned.withColumn(KEEP_KEY, F.col(keep_by).cast("double"))
        if keep_by != id_col:
            assigned = assigned.drop(keep_by)
    elif cfg.order == "random":
        assigned = assigned.withColumn(ORDER_KEY, hash_key(id_col, cfg.seed))
    return assigned


def dedup_assigned(
    assigned: DataFrame, sizes: np.ndarray, id_col: str, dim: int, cfg: SemDedupConfig
) -> tuple[DataFrame, list[int]]:
    """The exact kernel over every cluster of ``assigned`` (whole clusters only): the
    persisted ``id, semdedup_*`` result and the clusters split across tasks. Not with
    ``border_margin`` (a cluster's guests come from other clusters; incremental runs refuse it)."""
    if cfg.border_margin > 0:
        raise ValueError("dedup_assigned: border_margin > 0 needs every cluster (use semdedup)")
    result, big, _ = _dedup(
        assigned, sizes, id_col, dim, cfg, output_schema(assigned.schema[id_col])
    )
    return result, big


def cluster_sizes(result: DataFrame) -> dict[int, int]:
    """Rows per cluster of a SemDeDup result (k rows to the driver)."""
    rows = result.groupBy(CLUSTER_COL).count().collect()
    return {int(r[CLUSTER_COL]): int(r["count"]) for r in rows}


def semdedup(
    df: DataFrame,
    cfg: SemDedupConfig,
    id_col: str,
    emb_col: str,
    dim: int,
    n_rows: int,
    centroids: SemDedupCentroids | None = None,
) -> tuple[DataFrame, dict[str, Any]]:
    """SemDeDup decisions for every row of ``df`` (valid, non-null embeddings of length ``dim``).

    Returns ``id, semdedup_cluster_id, semdedup_dist, semdedup_max_sim, semdedup_partner`` (the
    last two null for a cluster's first row) and facts for the manifest. The returned DataFrame
    is already computed and persisted (the counts in the facts need it): ``unpersist()`` it when
    done. Apply an eps with ``apply_eps`` / ``semdedup_removed``. ``centroids``: frozen ones
    (else k-means is fitted on ``df``).
    """
    check_args(cfg, dim, n_rows)
    check_keep_by(df, cfg)
    schema = output_schema(df.schema[id_col])
    if n_rows == 0:
        empty = df.sparkSession.createDataFrame([], schema)
        return empty, {"k": 0, "eps": cfg.eps, "rows": 0, "removed": 0, "kmeans": None}
    if centroids is None:
        centroids = fit_centroids(df, cfg, id_col, emb_col, dim, n_rows)
    rate = measure_pair_rate(dim, cfg.block_size)
    estimate = log_largest_cluster(centroids.sizes, rate)
    assigned = assign(df, centroids, cfg, id_col, emb_col, dim)
    result, big, border_info = _dedup(assigned, centroids.sizes, id_col, dim, cfg, schema)
    start = time.perf_counter()
    stats = exact_stats(result, cfg.eps)
    assigned.unpersist()
    if stats["rows"] != n_rows:
        log.warning("SemDeDup: n_rows was %d but the input has %d rows", n_rows, stats["rows"])
    info = describe(cfg, centroids, big, stats, border_info)
    info["estimate_before_run"] = estimate
    info["seconds_assign_dedup"] = round(time.perf_counter() - start, 3)
    return result, info


def check_args(cfg: SemDedupConfig, dim: int, n_rows: int) -> None:
    cfg.validate("semdedup")
    check_order(cfg.order)
    check_eps(cfg.eps)
    if dim < 1 or n_rows < 0:
        raise ValueError(f"semdedup: need dim >= 1 and n_rows >= 0, got dim={dim}, n={n_rows}")


def describe(
    cfg: SemDedupConfig,
    centroids: SemDedupCentroids,
    big: list[int],
    stats: dict[str, Any],
    border_info: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """The manifest's SemDeDup facts."""
    return {
        "k": int(centroids.describe.get("k") or centroids.vectors.shape[0]),
        "kmeans": centroids.describe,
        "eps": cfg.eps,
        "order": cfg.order,
        "seed": cfg.seed if cfg.order == "random" else None,
        "keep_by": None if cfg.keep_by is None else dict(vars(cfg.keep_by)),
        "border_margin": cfg.border_margin,
        "border": border_info,
        "block_size": cfg.block_size,
        "split_rows": cfg.split_rows,
        "split_clusters": big,
        "similarity_dtype": SIMILARITY_DTYPE,
        "similarity_method": SIMILARITY_METHOD,
        "seconds_fit": round(centroids.seconds, 3),
        **stats,
    }
