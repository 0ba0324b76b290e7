"""SemDeDup (Abbas et al. 2023), exact at any cluster size.

Inside each k-means cluster, rows are put in order (``hard``: farthest from the centroid first,
ties by id). Row j's ``max_sim`` is its largest similarity to any earlier row and its partner is
that row (ties: the earliest). Row j is removed iff ``max_sim > 1 − eps``, comparing against every
earlier row whether or not it was removed itself. Storing ``max_sim`` and ``partner`` lets any eps
be applied later without recomputing similarities.

Clusters are processed whole (never split into chunks that miss cross-chunk pairs), in square
tiles of ``block_size`` rows, so memory is O(cluster·d + block²).

Similarities: a stored value is the float64 dot product of the float32 unit vectors, rounded to
float32 (the manifest records this). Tiles are screened with a float32 matrix product (1.6x
faster than float64 here); only the entries that a rigorous bound on the float32 rounding error
leaves in contention for a row's maximum are recomputed in float64. Where most rows of a tile
are in contention with many columns (runs of duplicates) the next tile skips the screen and is
one float64 product, so the worst case costs about what plain float64 would.

BLAS sums in a shape-dependent order, so float64 results differ by block shape in their last
bits; rounding to float32 absorbs that, which makes the answer independent of block size (the
exception would be a float64 product within ~1e-15 of a float32 rounding boundary that decides a
maximum: roughly 1e-8 per row). For a given block size the computation is the same whatever the
partitioning, so it is bit-for-bit repeatable.
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Callable, Iterable, Iterator
from contextlib import AbstractContextManager, nullcontext
from typing import Any

import numpy as np
import pyarrow as pa
from pyspark import StorageLevel
from pyspark.sql import Column, DataFrame
from pyspark.sql import functions as F
from pyspark.sql import types as T

from spark_prune.assign import nearest_centroids
from spark_prune.config import SemDedupConfig
from spark_prune.kmeans import fit_kmeans_on_sample
from spark_prune.vectors import arrow_list_to_matrix, hash_key, l2_normalize

log = logging.getLogger(__name__)

ORDERS = ("hard", "easy", "random")
CLUSTER_COL = "semdedup_cluster_id"
DIST_COL = "semdedup_dist"
MAX_SIM_COL = "semdedup_max_sim"
PARTNER_COL = "semdedup_partner"
REMOVED_COL = "semdedup_removed"
ORDER_KEY = "_semdedup_order_key"
EMB_BYTES = "_semdedup_embedding"
SIMILARITY_DTYPE = "float32"
SIMILARITY_METHOD = (
    "float64 dot products of float32 unit vectors, rounded to float32 "
    "(screened with float32 products under a rigorous error bound)"
)
UNIT_ROUNDOFF_32 = 2.0**-24
# Above this many screened candidates a row's tile is recomputed as one float64 product.
MAX_CANDIDATES_PER_ROW = 16


# ---------------------------------------------------------------- the removal rule (one place)


def check_eps(eps: float) -> float:
    """eps must be a finite number in [0, 2): cosine similarities lie in [-1, 1]."""
    if not isinstance(eps, (int, float)) or not 0 <= eps < 2:
        raise ValueError(f"semdedup eps must be a number in [0, 2), got {eps!r}")
    return float(eps)


def removed_mask(max_sim: np.ndarray, eps: float) -> np.ndarray:
    """The rule in numpy: removed iff ``max_sim > 1 − eps``. The first row of a cluster has
    ``max_sim = -inf`` (NaN is accepted too) and is always kept."""
    threshold = 1.0 - check_eps(eps)
    values = np.asarray(max_sim, dtype=np.float64)
    return np.asarray(np.nan_to_num(values, nan=-np.inf) > threshold)


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


# ---------------------------------------------------------------- numpy core


def check_order(order: str) -> str:
    if order not in ORDERS:
        raise ValueError(f"semdedup.order must be one of {', '.join(ORDERS)}; got {order!r}")
    return order


def order_within_cluster(
    dist: np.ndarray, ids: np.ndarray, order: str, random_key: np.ndarray | None = None
) -> np.ndarray:
    """The processing order of one cluster's rows, as a permutation of their positions.

    ``hard``: dist descending; ``easy``: dist ascending; ``random``: ``random_key`` ascending,
    where the key is the seeded xxhash64 of the id that Spark computes (``vectors.hash_key``,
    the same key DBP's random order uses), so the order does not depend on partitioning.
    Ties always go to the smaller id.
    """
    check_order(order)
    if order == "hard":
        return np.lexsort((ids, -np.asarray(dist, dtype=np.float64)))
    if order == "easy":
        return np.lexsort((ids, np.asarray(dist, dtype=np.float64)))
    if random_key is None:
        raise ValueError("order 'random' needs random_key: vectors.hash_key(id, seed) per row")
    return np.lexsort((ids, random_key))


def screen_tolerance(x: np.ndarray) -> float:
    """A bound on |float32 product − stored value| for any pair of rows of ``x``.

    The float32 inner product of length d errs by at most γ_d·Σ|x_k·y_k| ≤ γ_d·‖x‖‖y‖ with
    γ_d = d·u / (1 − d·u), u = 2⁻²⁴, whatever the summation order; the stored value (float64
    rounded to float32) is within u·|x·y| (plus ~1e-16) of the exact product.
    """
    d = x.shape[1]
    if d * UNIT_ROUNDOFF_32 >= 0.5:
        raise ValueError(f"embedding dimension {d} is too large for the float32 screen")
    norm2 = float(np.max(np.einsum("ij,ij->i", x, x, dtype=np.float64))) if len(x) else 1.0
    gamma = d * UNIT_ROUNDOFF_32 / (1 - d * UNIT_ROUNDOFF_32)
    return (gamma + 1.01 * UNIT_ROUNDOFF_32) * norm2 * 1.01 + 1e-12


def _stored_similarity(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Row-wise <a_i, b_i>: exact float32 products summed in float64, rounded to float32."""
    sums = np.einsum("ij,ij->i", a.astype(np.float64), b.astype(np.float64))
    return sums.astype(np.float32).astype(np.float64)


def _mask_not_earlier(sims: np.ndarray, rows: np.ndarray, left: int) -> None:
    """Hide the columns that are not strictly before each row (the diagonal tile)."""
    cols = np.arange(left, left + sims.shape[1])
    sims[cols[None, :] >= rows[:, None]] = -np.inf


def _exact_tile(
    x: np.ndarray, rows: np.ndarray, left: int, right: int, tol: float
) -> tuple[np.ndarray, np.ndarray, float]:
    """Stored values of ``rows`` against columns [left, right) as one float64 product:
    (max, argmax with the earliest on ties, share of rows the screen would find crowded)."""
    sims = (x[rows].astype(np.float64) @ x[left:right].astype(np.float64).T).astype(np.float32)
    if right > rows.min():
        _mask_not_earlier(sims, rows, left)
    arg = sims.argmax(axis=1)
    top = sims[np.arange(len(rows)), arg].astype(np.float64)
    near = (sims >= (top - 2 * tol)[:, None]).sum(axis=1)
    return top, left + arg, float(np.mean(near > MAX_CANDIDATES_PER_ROW))


def _first_max_per_row(
    row: np.ndarray, col: np.ndarray, value: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Per row of a (row, col)-sorted pair list: (max value, its earliest col)."""
    starts = np.flatnonzero(np.r_[True, row[1:] != row[:-1]])
    top = np.maximum.reduceat(value, starts)
    at_top = np.flatnonzero(value == top[np.searchsorted(starts, np.arange(len(row)), "right") - 1])
    _, first = np.unique(row[at_top], return_index=True)
    return top, col[at_top[first]]


def _candidates_exact(
    x: np.ndarray, rows: np.ndarray, left: int, near: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Stored values of the screened candidates only: (max, earliest argmax) per row."""
    row, col = np.nonzero(near)
    value = _stored_similarity(x[rows[row]], x[left + col])
    top, arg = _first_max_per_row(row, col, value)
    return top, left + arg


def _screen_tile(
    x: np.ndarray, start: int, stop: int, left: int, right: int, best: np.ndarray, tol: float
) -> tuple[np.ndarray, np.ndarray, np.ndarray, float]:
    """The float32 screen of one tile: (rows that may improve, their max, argmax, crowded share).

    A row is looked at only if its screened maximum could reach its best so far. Its exact
    argmax is among the columns within 2·tol of the screened maximum: those few pairs are
    recomputed in float64; a row with many (near ties, duplicates) gets its tile recomputed
    as one float64 product instead.
    """
    sims = x[start:stop] @ x[left:right].T
    if right > start:
        _mask_not_earlier(sims, np.arange(start, stop), left)
    top = sims.max(axis=1)
    live = np.flatnonzero((top > -np.inf) & (top >= best[start:stop] - tol))
    near = sims[live] >= (top[live] - 2 * tol)[:, None]
    few = near.sum(axis=1) <= MAX_CANDIDATES_PER_ROW
    value = np.empty(live.size, dtype=np.float64)
    arg = np.empty(live.size, dtype=np.int64)
    if few.any():
        value[few], arg[few] = _candidates_exact(x, start + live[few], left, near[few])
    if not few.all():
        value[~few], arg[~few], _ = _exact_tile(x, start + live[~few], left, right, tol)
    return start + live, value, arg, float(np.mean(~few)) if live.size else 0.0


def _merge_tile(
    x: np.ndarray,
    start: int,
    stop: int,
    left: int,
    right: int,
    best: np.ndarray,
    partner: np.ndarray,
    tol: float,
    direct: bool,
) -> bool:
    """Fold tile (rows [start, stop), columns [left, right)) into ``best`` / ``partner``;
    earlier tiles win ties (strict ``>``). ``direct`` skips the screen (one float64 product,
    the same stored values); returns whether the next tile should too, i.e. whether most rows
    were crowded (runs of duplicates, where screening would only add work)."""
    if direct:
        target = np.arange(start, stop)
        value, arg, crowded = _exact_tile(x, target, left, right, tol)
    else:
        target, value, arg, crowded = _screen_tile(x, start, stop, left, right, best, tol)
    better = value > best[target]
    best[target[better]] = value[better]
    partner[target[better]] = arg[better]
    return crowded > 0.5


def max_similarity_to_earlier(x: np.ndarray, block_size: int) -> tuple[np.ndarray, np.ndarray]:
    """For rows already in processing order: ``max_sim[j] = max_{i<j} <x_i, x_j>`` (float64
    holding a float32 value) and ``partner[j]`` = that i (int64; ties: the earliest i).

    Row 0 has nothing before it: ``max_sim = -inf`` and partner ``-1``; it is never removed, and
    a singleton cluster keeps its row. Tiles are block_size × block_size over the lower triangle,
    so memory is O(n·d + block²); the result does not depend on block_size.
    """
    if isinstance(block_size, bool) or not isinstance(block_size, int) or block_size < 1:
        raise ValueError(f"semdedup block_size must be an integer >= 1, got {block_size!r}")
    xs = np.ascontiguousarray(x, dtype=np.float32)
    if xs.ndim != 2:
        raise ValueError(f"expected an (n, d) matrix, got shape {xs.shape}")
    n = xs.shape[0]
    best = np.full(n, -np.inf, dtype=np.float64)
    partner = np.full(n, -1, dtype=np.int64)
    tol = screen_tolerance(xs)
    for start in range(0, n, block_size):
        stop = min(start + block_size, n)
        direct = False
        for left in range(0, stop, block_size):
            right = min(left + block_size, stop)
            direct = _merge_tile(xs, start, stop, left, right, best, partner, tol, direct)
    return best, partner


def dedup_cluster(
    ids: np.ndarray,
    dist: np.ndarray,
    x: np.ndarray,
    order: str,
    block_size: int,
    random_key: np.ndarray | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """The rule on one cluster: (max_sim, partner position or -1), both aligned with the input
    rows (not the processing order).

    ``x`` is L2-normalised here (float32, as the assignment step does), so raw embeddings are fine.
    """
    perm = order_within_cluster(dist, ids, order, random_key)
    ordered_sim, ordered_partner = max_similarity_to_earlier(l2_normalize(x[perm]), block_size)
    max_sim = np.empty_like(ordered_sim)
    partner = np.full(len(perm), -1, dtype=np.int64)
    max_sim[perm] = ordered_sim
    has = ordered_partner >= 0
    partner[perm[has]] = perm[ordered_partner[has]]
    return max_sim, partner


# ---------------------------------------------------------------- cost estimate


def _one_blas_thread() -> AbstractContextManager[object]:
    """Limit BLAS to one thread when threadpoolctl is there (Spark runs each Python worker's
    BLAS on ``spark.task.cpus`` threads, usually one)."""
    try:
        from threadpoolctl import threadpool_limits
    except ImportError:  # pragma: no cover - optional
        return nullcontext()
    return threadpool_limits(1)


def measure_pair_rate(dim: int, block_size: int, rows: int = 4096) -> float:
    """Pairs per second of the blockwise kernel on one thread here (random unit vectors,
    after a warm-up; a few tenths of a second)."""
    rows = max(2, min(rows, 4 * block_size))
    x = l2_normalize(np.random.default_rng(0).standard_normal((rows, dim)).astype(np.float32))
    with _one_blas_thread():
        max_similarity_to_earlier(x[: min(rows, 256)], block_size)
        start = time.perf_counter()
        max_similarity_to_earlier(x, block_size)
        seconds = time.perf_counter() - start
    return rows * (rows - 1) / 2 / max(seconds, 1e-9)


def estimated_sizes(sample: np.ndarray, centroids: np.ndarray, n_rows: int) -> np.ndarray:
    """Cluster sizes extrapolated from the k-means sample's own assignment (no Spark pass)."""
    cluster, _ = nearest_centroids(l2_normalize(sample), centroids)
    counts = np.bincount(cluster, minlength=centroids.shape[0]).astype(np.float64)
    return counts * (n_rows / max(len(sample), 1))


def warn_about_largest_cluster(sizes: np.ndarray, rate: float) -> dict[str, Any]:
    """Log the (estimated) largest cluster and its cost before the quadratic step."""
    largest = int(np.argmax(sizes))
    rows = int(round(sizes[largest]))
    pairs = rows * (rows - 1) // 2
    total = float(np.sum(sizes * (sizes - 1) / 2))
    log.warning(
        "SemDeDup: largest cluster (estimated from the k-means sample) is %d with about %d rows: "
        "%.3g pairs, about %.0f s in one Python worker at %.3g pairs/s measured here; "
        "all clusters: %.3g pairs, about %.0f s of worker time",
        largest,
        rows,
        pairs,
        pairs / rate,
        rate,
        total,
        total / rate,
    )
    return {
        "cluster": largest,
        "rows": rows,
        "pairs": pairs,
        "seconds": round(pairs / rate, 3),
        "pairs_total": int(total),
        "pairs_per_second_measured": round(rate),
    }


# ---------------------------------------------------------------- Spark stage


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


def matrix_to_binary(x: np.ndarray, large: bool = False) -> pa.Array:
    """Rows of a float32 matrix as an Arrow (large_)binary column of raw bytes, zero copy."""
    data = np.ascontiguousarray(x, dtype=np.float32)
    n, width = data.shape[0], 4 * data.shape[1]
    offsets = np.arange(0, (n + 1) * width, width, dtype=np.int64 if large else np.int32)
    kind = pa.large_binary() if large else pa.binary()
    return pa.Array.from_buffers(kind, n, [None, pa.py_buffer(offsets), pa.py_buffer(data)])


def binary_to_matrix(column: pa.Array | pa.ChunkedArray, dim: int) -> np.ndarray:
    """The inverse of ``matrix_to_binary``: an (n, dim) float32 matrix (chunk by chunk, so a
    cluster over 2 GiB is fine)."""
    chunks = column.chunks if isinstance(column, pa.ChunkedArray) else [column]
    parts = [_binary_chunk(chunk, dim) for chunk in chunks if len(chunk)]
    return np.concatenate(parts) if parts else np.zeros((0, dim), dtype=np.float32)


def _binary_chunk(chunk: pa.Array, dim: int) -> np.ndarray:
    offset_type = np.int64 if pa.types.is_large_binary(chunk.type) else np.int32
    n = len(chunk)
    offsets = np.frombuffer(chunk.buffers()[1], dtype=offset_type)[
        chunk.offset : chunk.offset + n + 1
    ]
    if not np.all(np.diff(offsets) == 4 * dim):
        raise ValueError(f"semdedup: an embedding is not {dim} float32 values")
    data = np.frombuffer(chunk.buffers()[2], dtype=np.uint8)[offsets[0] : offsets[-1]]
    return data.view(np.float32).reshape(n, dim)


def _assign(df: DataFrame, centroids: np.ndarray, id_col: str, emb_col: str, dim: int) -> DataFrame:
    """``id, embedding bytes, cluster, dist``: ``assign.nearest_centroids`` (the same formula
    as ``assign_clusters``), passing the embedding on as raw float32 bytes, which Spark moves
    through the shuffle and into Arrow far more cheaply than ``array<float>``."""
    centroids = np.ascontiguousarray(centroids, dtype=np.float32)
    source = df.select(id_col, emb_col)
    conf = df.sparkSession.conf.get("spark.sql.execution.arrow.useLargeVarTypes", "false")
    large = str(conf).lower() == "true"
    schema = T.StructType(
        [
            source.schema[id_col],
            T.StructField(EMB_BYTES, T.BinaryType(), False),
            T.StructField(CLUSTER_COL, T.IntegerType(), False),
            T.StructField(DIST_COL, T.DoubleType(), False),
        ]
    )

    def assign_batches(batches: Iterable[pa.RecordBatch]) -> Iterator[pa.RecordBatch]:
        for batch in batches:
            x = arrow_list_to_matrix(batch.column(emb_col), dim)
            cluster, dist = nearest_centroids(l2_normalize(x), centroids)
            columns = [batch.column(id_col), matrix_to_binary(x, large)]
            columns += [pa.array(cluster, pa.int32()), pa.array(dist, pa.float64())]
            yield pa.RecordBatch.from_arrays(columns, names=schema.fieldNames())

    return source.mapInArrow(assign_batches, schema)


def _cluster_function(id_col: str, dim: int, cfg: SemDedupConfig) -> Callable[[pa.Table], pa.Table]:
    """One whole cluster (an Arrow table) -> its rows' SemDeDup columns."""

    def process(table: pa.Table) -> pa.Table:
        id_column = table.column(id_col).combine_chunks()
        ids = id_column.to_numpy(zero_copy_only=False)
        dist = table.column(DIST_COL).to_numpy()
        key = table.column(ORDER_KEY).to_numpy() if ORDER_KEY in table.column_names else None
        x = binary_to_matrix(table.column(EMB_BYTES), dim)
        max_sim, partner = dedup_cluster(ids, dist, x, cfg.order, cfg.block_size, key)
        none = partner < 0
        return pa.Table.from_arrays(
            [
                id_column,
                table.column(CLUSTER_COL).combine_chunks(),
                pa.array(dist, pa.float64()),
                pa.array(np.where(none, 0.0, max_sim), pa.float64(), mask=none),
                _null_where(id_column, partner, none),
            ],
            names=[id_col, CLUSTER_COL, DIST_COL, MAX_SIM_COL, PARTNER_COL],
        )

    return process


def _null_where(id_column: pa.Array, partner: np.ndarray, none: np.ndarray) -> pa.Array:
    """The partner ids (``partner`` indexes ``id_column``), null where there is none."""
    indices = pa.array(np.where(none, 0, partner), pa.int64(), mask=none)
    return id_column.take(indices)


def _exact_stats(result: DataFrame, eps: float) -> dict[str, Any]:
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


def semdedup(
    df: DataFrame, cfg: SemDedupConfig, id_col: str, emb_col: str, dim: int, n_rows: int
) -> tuple[DataFrame, dict[str, Any]]:
    """SemDeDup decisions for every row of ``df`` (valid, non-null embeddings of length ``dim``).

    Returns ``id, semdedup_cluster_id, semdedup_dist, semdedup_max_sim, semdedup_partner`` (the
    last two null for a cluster's first row) and facts for the manifest. The returned DataFrame
    is already computed and persisted (the counts in the facts need it): ``unpersist()`` it when
    done. Apply an eps with ``apply_eps`` / ``semdedup_removed``.
    """
    cfg.validate("semdedup")
    check_order(cfg.order)
    check_eps(cfg.eps)
    if dim < 1 or n_rows < 0:
        raise ValueError(f"semdedup: need dim >= 1 and n_rows >= 0, got dim={dim}, n={n_rows}")
    schema = output_schema(df.schema[id_col])
    if n_rows == 0:
        empty = df.sparkSession.createDataFrame([], schema)
        return empty, {"k": 0, "eps": cfg.eps, "rows": 0, "removed": 0, "kmeans": None}
    km_cfg = cfg.kmeans.with_k(default_k(cfg, n_rows))
    start = time.perf_counter()
    km, sample = fit_kmeans_on_sample(
        df, id_col, emb_col, dim, n_rows, km_cfg, label="semdedup k-means"
    )
    fit_seconds = time.perf_counter() - start
    rate = measure_pair_rate(dim, cfg.block_size)
    estimate = warn_about_largest_cluster(estimated_sizes(sample, km.centroids, n_rows), rate)
    assigned = _assign(df, km.centroids, id_col, emb_col, dim)
    if cfg.order == "random":
        assigned = assigned.withColumn(ORDER_KEY, hash_key(id_col, cfg.seed))
    result = assigned.groupBy(CLUSTER_COL).applyInArrow(_cluster_function(id_col, dim, cfg), schema)
    result = result.persist(StorageLevel.MEMORY_AND_DISK)
    start = time.perf_counter()
    stats = _exact_stats(result, cfg.eps)
    if stats["rows"] != n_rows:
        log.warning("SemDeDup: n_rows was %d but the input has %d rows", n_rows, stats["rows"])
    info: dict[str, Any] = {
        "k": int(km.centroids.shape[0]),
        "kmeans": km.describe(),
        "eps": cfg.eps,
        "order": cfg.order,
        "seed": cfg.seed if cfg.order == "random" else None,
        "block_size": cfg.block_size,
        "similarity_dtype": SIMILARITY_DTYPE,
        "similarity_method": SIMILARITY_METHOD,
        "estimate_before_run": estimate,
        "seconds_fit": round(fit_seconds, 3),
        "seconds_assign_dedup": round(time.perf_counter() - start, 3),
        **stats,
    }
    return result, info
