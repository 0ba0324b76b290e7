"""Spherical k-means on a seeded, partition-independent sample: faiss on the driver, or
distributed Lloyd iterations (``kmeans_distributed``) when ``kmeans.method`` says so."""

from __future__ import annotations

import logging
from dataclasses import dataclass

import faiss
import numpy as np
from pyspark.sql import DataFrame
from pyspark.sql import functions as F

from spark_prune.config import KMeansConfig
from spark_prune.core.semdedup_cost import estimated_sizes
from spark_prune.core.vectors import arrow_list_to_matrix, l2_normalize
from spark_prune.order_columns import hash_key

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class KMeansResult:
    centroids: np.ndarray  # (k, d) float32, unit norm
    sample_rows: int
    iterations: int
    seed: int
    objective: float
    method: str = "driver"

    def describe(self) -> dict[str, object]:
        return {
            "k": int(self.centroids.shape[0]),
            "dim": int(self.centroids.shape[1]),
            "sample_rows": self.sample_rows,
            "iterations": self.iterations,
            "seed": self.seed,
            "objective": self.objective,
            "method": self.method,
            "library": (
                f"faiss {faiss.__version__}"
                if self.method == "driver"
                else "spark Lloyd, exact fixed-point sums"
            ),
            "spherical": True,
        }


def sample_size_for(cfg: KMeansConfig, n_rows: int) -> int:
    wanted = cfg.sample_size if cfg.sample_size is not None else cfg.max_points_per_centroid * cfg.k
    return max(1, min(n_rows, wanted))


def sample_embeddings(
    df: DataFrame, id_col: str, emb_col: str, dim: int, size: int, seed: int, n_rows: int
) -> np.ndarray:
    """The ``size`` rows with the smallest seeded hash of their id, in hash order.

    Hash order does not depend on partitioning, so the same table gives the same sample.
    A prefilter on the hash keeps the sort small; it is relaxed if it kept too few rows.
    """
    key = hash_key(id_col, seed)
    keyed = df.select(key.alias("_h"), F.col(id_col).alias("_id"), F.col(emb_col).alias("_e"))
    fraction = min(1.0, 1.5 * size / max(n_rows, 1) + 1e-3)
    while True:
        cutoff = int(-(2**63) + fraction * (2**64 - 1))
        candidates = keyed if fraction >= 1.0 else keyed.filter(F.col("_h") <= F.lit(cutoff))
        rows = candidates.orderBy("_h", "_id").limit(size)
        table = rows.select("_e").toArrow()
        if table.num_rows >= size or fraction >= 1.0:
            break
        fraction = min(1.0, fraction * 2)
    if table.num_rows == 0:
        return np.zeros((0, dim), dtype=np.float32)
    return arrow_list_to_matrix(table.column("_e"), dim)


def fit_spherical_kmeans(sample: np.ndarray, cfg: KMeansConfig) -> KMeansResult:
    """faiss spherical k-means: centroids re-normalised each iteration, inner-product assignment."""
    x = l2_normalize(np.ascontiguousarray(sample, dtype=np.float32))
    n, d = x.shape
    k = min(cfg.k, n)
    if k < cfg.k:
        log.warning("k-means: only %d sample rows for k=%d; using k=%d", n, cfg.k, k)
    km = faiss.Kmeans(
        d,
        k,
        niter=cfg.iterations,
        seed=cfg.seed,
        spherical=True,
        max_points_per_centroid=max(cfg.max_points_per_centroid, (n + k - 1) // k),
        verbose=False,
    )
    km.train(x)
    assert km.centroids is not None and km.obj is not None
    centroids = l2_normalize(np.asarray(km.centroids, dtype=np.float32))
    objective = float(km.obj[-1]) if len(km.obj) else float("nan")
    return KMeansResult(centroids, n, cfg.iterations, cfg.seed, objective)


def choose_method(cfg: KMeansConfig, n_rows: int, label: str = "k-means") -> str:
    """``driver`` or ``distributed``: ``auto`` goes distributed when k × sample rows (the
    work of one faiss iteration) exceeds ``driver_max_work``, and says so in the log."""
    if cfg.method != "auto":
        return cfg.method
    size = sample_size_for(cfg, n_rows)
    work = cfg.k * size
    method = "distributed" if work > cfg.driver_max_work else "driver"
    log.info(
        "%s: method auto -> %s (k %d x sample rows %d = %.3g %s driver_max_work %.3g)",
        label,
        method,
        cfg.k,
        size,
        work,
        ">" if method == "distributed" else "<=",
        cfg.driver_max_work,
    )
    return method


def fit_kmeans(
    df: DataFrame, id_col: str, emb_col: str, dim: int, n_rows: int, cfg: KMeansConfig
) -> KMeansResult:
    """Sample valid rows of ``df`` (embeddings already validated) and fit centroids."""
    if choose_method(cfg, n_rows) == "distributed":
        from spark_prune.kmeans_distributed import fit_distributed

        return fit_distributed(df, id_col, emb_col, dim, n_rows, cfg)[0]
    return fit_kmeans_on_sample(df, id_col, emb_col, dim, n_rows, cfg)[0]


def fit_kmeans_sized(
    df: DataFrame,
    id_col: str,
    emb_col: str,
    dim: int,
    n_rows: int,
    cfg: KMeansConfig,
    label: str = "k-means",
) -> tuple[KMeansResult, np.ndarray]:
    """Centroids by ``cfg.method``, and the rows per cluster they imply for all ``n_rows``
    (extrapolated from the training rows' assignment: no extra pass over the data)."""
    if choose_method(cfg, n_rows, label) == "distributed":
        from spark_prune.kmeans_distributed import fit_distributed

        return fit_distributed(df, id_col, emb_col, dim, n_rows, cfg, label)
    km, sample = fit_kmeans_on_sample(df, id_col, emb_col, dim, n_rows, cfg, label)
    return km, estimated_sizes(sample, km.centroids, n_rows)


def fit_kmeans_on_sample(
    df: DataFrame,
    id_col: str,
    emb_col: str,
    dim: int,
    n_rows: int,
    cfg: KMeansConfig,
    label: str = "k-means",
) -> tuple[KMeansResult, np.ndarray]:
    """:func:`fit_kmeans`, also returning the sample it fitted on (``label`` names the fit in
    the log and errors)."""
    size = sample_size_for(cfg, n_rows)
    sample = sample_embeddings(df, id_col, emb_col, dim, size, cfg.seed, n_rows)
    if sample.shape[0] == 0:
        raise ValueError(f"{label}: no valid embeddings to fit on")
    log.info("%s: fitting k=%d on %d sampled rows (dim %d)", label, cfg.k, sample.shape[0], dim)
    return fit_spherical_kmeans(sample, cfg), sample
