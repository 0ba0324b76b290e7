"""Fitting k-means by the configured method: faiss on a driver sample (``kmeans``) or Lloyd
iterations as Spark aggregations (``kmeans_distributed``)."""

from __future__ import annotations

import logging
import math
import re

import numpy as np
from pyspark.sql import DataFrame

from spark_prune.config import ConfigError, KMeansConfig
from spark_prune.core.semdedup_cost import estimated_sizes
from spark_prune.kmeans import (
    KMeansResult,
    fit_kmeans_on_sample,
    prefilter_fraction,
    sample_size_for,
)
from spark_prune.kmeans_distributed import fit_distributed

log = logging.getLogger(__name__)


def choose_method(
    cfg: KMeansConfig,
    n_rows: int,
    label: str = "k-means",
    dim: int | None = None,
    max_result_bytes: int = 0,
) -> str:
    """``driver`` or ``distributed``. ``auto`` goes distributed when k × sample rows (the work
    of one faiss iteration) exceeds ``driver_max_work``, or when the sample (``dim`` wide)
    would not fit in ``max_result_bytes`` (``spark.driver.maxResultSize``; 0: no limit), and
    says so in the log. ``driver`` with a sample over that limit is a ``ConfigError``."""
    size = sample_size_for(cfg, n_rows)
    sample_bytes = driver_sample_bytes(size, n_rows, dim) if dim else 0
    too_big = bool(max_result_bytes) and sample_bytes > max_result_bytes
    if cfg.method == "driver" and too_big:
        key = f"{label.split()[0]}.kmeans" if " " in label else "kmeans"
        raise ConfigError(
            f"{label}: method driver collects a sample of about {sample_bytes / 2**30:.1f} GiB "
            f"({size:,} rows x {dim}) to the driver, more than spark.driver.maxResultSize "
            f"({max_result_bytes / 2**30:.1f} GiB); set {key}.method: distributed or auto, "
            f"lower {key}.sample_size or max_points_per_centroid, or raise "
            f"spark.driver.maxResultSize"
        )
    if cfg.method != "auto":
        return cfg.method
    work = cfg.k * size
    method = "distributed" if work > cfg.driver_max_work or too_big else "driver"
    reason = (
        f"sample {sample_bytes / 2**30:.1f} GiB > spark.driver.maxResultSize"
        if too_big
        else f"k {cfg.k} x sample rows {size} = {work:.3g} "
        f"{'>' if work > cfg.driver_max_work else '<='} driver_max_work {cfg.driver_max_work:.3g}"
    )
    log.info("%s: method auto -> %s (%s)", label, method, reason)
    return method


def driver_sample_bytes(size: int, n_rows: int, dim: int) -> int:
    """What the driver method collects: the prefiltered rows (a little more than ``size``),
    each a ``dim``-float embedding plus its id, hash and Arrow offsets."""
    rows = min(n_rows, math.ceil(prefilter_fraction(size, max(n_rows, 1)) * n_rows))
    return rows * (4 * dim + 24)


def max_result_bytes(df: DataFrame) -> int:
    """``spark.driver.maxResultSize`` in bytes (0: unlimited, or unreadable here)."""
    try:
        value = df.sparkSession.conf.get("spark.driver.maxResultSize", "1g")
    except Exception:  # a Connect server that does not expose it: no guard
        return 0
    return parse_bytes(value or "0")


_UNITS = {"": 1, "b": 1, "k": 2**10, "m": 2**20, "g": 2**30, "t": 2**40, "p": 2**50}


def parse_bytes(text: str) -> int:
    """A Spark byte size (``1g``, ``512m``, ``2048k``, ``1073741824``) in bytes; 0 when it is
    not one (no guard rather than a wrong one)."""
    match = re.fullmatch(r"\s*(\d+)\s*([kmgtp]?)b?\s*", text.lower())
    return int(match.group(1)) * _UNITS[match.group(2)] if match else 0


def fit_kmeans(
    df: DataFrame,
    id_col: str,
    emb_col: str,
    dim: int,
    n_rows: int,
    cfg: KMeansConfig,
    label: str = "dbp k-means",
) -> KMeansResult:
    """Sample valid rows of ``df`` (embeddings already validated) and fit centroids."""
    if choose_method(cfg, n_rows, label, dim, max_result_bytes(df)) == "distributed":
        return fit_distributed(df, id_col, emb_col, dim, n_rows, cfg, label)[0]
    return fit_kmeans_on_sample(df, id_col, emb_col, dim, n_rows, cfg, label)[0]


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
    if choose_method(cfg, n_rows, label, dim, max_result_bytes(df)) == "distributed":
        return fit_distributed(df, id_col, emb_col, dim, n_rows, cfg, label)
    km, sample = fit_kmeans_on_sample(df, id_col, emb_col, dim, n_rows, cfg, label)
    return km, estimated_sizes(sample, km.centroids, n_rows)
