"""What SemDeDup's quadratic step will cost, measured and estimated before it runs."""

from __future__ import annotations

import logging
import time
from contextlib import AbstractContextManager, nullcontext
from typing import Any

import numpy as np

from spark_prune.core.assign import nearest_centroids
from spark_prune.core.semdedup_kernel import max_similarity_to_earlier
from spark_prune.core.vectors import l2_normalize

log = logging.getLogger(__name__)

# One SemDeDup task (the largest cluster) estimated to run longer than this is logged as a
# warning: the time to raise semdedup.kmeans.k or lower semdedup.split_rows.
WARN_ABOVE_SECONDS = 600.0


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


def log_largest_cluster(sizes: np.ndarray, rate: float) -> dict[str, Any]:
    """Log the (estimated) largest cluster and its cost before the quadratic step: a warning
    when that one task would run longer than ``WARN_ABOVE_SECONDS``, else an info line."""
    largest = int(np.argmax(sizes))
    rows = int(round(sizes[largest]))
    pairs = rows * (rows - 1) // 2
    total = float(np.sum(sizes * (sizes - 1) / 2))
    level = logging.WARNING if pairs / rate > WARN_ABOVE_SECONDS else logging.INFO
    log.log(
        level,
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
