"""Fitting k-means by the configured method: faiss on a driver sample (``kmeans``) or Lloyd
iterations as Spark aggregations (``kmeans_distributed``)."""

from __future__ import annotations

import logging

import numpy as np
from pyspark.sql import DataFrame

from spark_prune.config import KMeansConfig
from spark_prune.core.semdedup_cost import estimated_sizes
from spark_prune.kmeans import KMeansResult, fit_kmeans_on_sample, sample_size_for
from spark_prune.kmeans_distributed import fit_distributed

log = logging.getLogger(__name__)


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
        return fit_distributed(df, id_col, emb_col, dim, n_rows, cfg, label)
    km, sample = fit_kmeans_on_sample(df, id_col, emb_col, dim, n_rows, cfg, label)
    return km, estimated_sizes(sample, km.centroids, n_rows)
