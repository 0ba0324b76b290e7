"""Spherical k-means on a seeded, partition-independent sample: faiss on the driver, or
distributed Lloyd iterations (``kmeans_distributed``); ``clustering`` picks by ``kmeans.method``."""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass

import faiss
import numpy as np
import pyarrow.compute as pc
from pyspark.sql import DataFrame
from pyspark.sql import functions as F

from spark_prune.config import KMeansConfig
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
    """The ``size`` rows with the smallest seeded hash of their id (ties by id), in hash order.

    Hash order does not depend on partitioning, so the same table gives the same sample.
    One pass: a prefilter on the hash keeps a little more than ``size`` rows
    (:func:`prefilter_fraction`), which come to the driver as Arrow straight from the
    executors and are ordered there (no shuffle of embeddings into one partition).
    ``n_rows`` is an estimate; if it was too high and too few rows passed, the prefilter is
    widened from the count observed and the pass repeated.
    """
    key = hash_key(id_col, seed)
    keyed = df.select(key.alias("_h"), F.col(id_col).alias("_id"), F.col(emb_col).alias("_e"))
    fraction = prefilter_fraction(size, max(n_rows, 1))
    while True:
        cutoff = int(-(2**63) + fraction * (2**64 - 1))
        candidates = keyed if fraction >= 1.0 else keyed.filter(F.col("_h") <= F.lit(cutoff))
        table = candidates.toArrow()
        if table.num_rows >= size or fraction >= 1.0:
            break
        seen = max(table.num_rows, 1)  # the rows there are ≈ seen / fraction
        fraction = min(1.0, max(2 * fraction, prefilter_fraction(size, seen / fraction)))
    if table.num_rows == 0:
        return np.zeros((0, dim), dtype=np.float32)
    order = pc.sort_indices(table, sort_keys=[("_h", "ascending"), ("_id", "ascending")])
    return arrow_list_to_matrix(table.column("_e").take(order[:size]), dim)


def prefilter_fraction(size: int, n_rows: float) -> float:
    """The share of the hash range that holds ``size`` of ``n_rows`` rows: 20% (an estimate
    that is up to a sixth too high still needs one pass) plus five standard deviations."""
    return min(1.0, (1.2 * size + 5 * math.sqrt(size) + 100) / n_rows)


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


def fit_kmeans_on_sample(
    df: DataFrame,
    id_col: str,
    emb_col: str,
    dim: int,
    n_rows: int,
    cfg: KMeansConfig,
    label: str = "k-means",
) -> tuple[KMeansResult, np.ndarray]:
    """Centroids by the driver method (faiss on a hash-of-id sample) and that sample
    (``label`` names the fit in the log and errors)."""
    size = sample_size_for(cfg, n_rows)
    sample = sample_embeddings(df, id_col, emb_col, dim, size, cfg.seed, n_rows)
    if sample.shape[0] == 0:
        raise ValueError(f"{label}: no valid embeddings to fit on")
    log.info("%s: fitting k=%d on %d sampled rows (dim %d)", label, cfg.k, sample.shape[0], dim)
    return fit_spherical_kmeans(sample, cfg), sample
