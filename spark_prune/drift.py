"""Drift of an incremental run: how far the added rows sit from the previous run's (frozen) DBP
centroids, and what ``incremental.refit`` does about it.

The measure: the share of added rows whose DBP ``dist`` exceeds the previous rows' 95th
percentile (about 5% when the new rows look like the old ones). Above ``incremental.refit_above``
a full refit is due. With ``refit: warn`` (default) the DBP stage measures it on the added rows
that reach DBP and logs a warning. With ``refit: auto`` it is measured right after the changes
are found, before any stage runs, on every added row with a valid embedding (assigned to the
previous run's DBP centroids): when due, the run becomes a full run on the new version (both
k-means refitted, no stored result reused) and its manifest says ``incremental.refit: true``.
"""

from __future__ import annotations

import logging
from dataclasses import replace
from typing import Any

import numpy as np
from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F

from spark_prune import contract
from spark_prune.assign import assign_clusters
from spark_prune.config import ConfigError, PipelineConfig
from spark_prune.frozen import load_centroids
from spark_prune.runs import OpenRun
from spark_prune.validate import as_array_embeddings, element_type, invalid_detail

log = logging.getLogger(__name__)

DRIFT_QUANTILE = 0.95
DRIFT_BUCKET = 1e-4  # the previous rows' quantile is found on a histogram of this width
AUTO_KEY = "incremental.refit"


def quantile_upper_bound(rows: DataFrame, q: float) -> float:
    """The upper edge of the ``DRIFT_BUCKET``-wide bucket of ``dist`` holding the q-quantile:
    a histogram (at most 2 / bucket rows to the driver), the same for any partitioning."""
    bucket = F.floor(F.col(contract.DIST) / F.lit(DRIFT_BUCKET)).cast("long")
    hist = rows.groupBy(bucket.alias("b")).count().orderBy("b").collect()
    counts = np.array([int(r["count"]) for r in hist], dtype=np.int64)
    if counts.size == 0:
        return float("nan")
    at = int(np.searchsorted(np.cumsum(counts), np.ceil(q * counts.sum())))
    return float((int(hist[min(at, len(hist) - 1)]["b"]) + 1) * DRIFT_BUCKET)


def previous_p95(previous: OpenRun) -> float:
    """The previous run's 95th percentile of ``dist`` (``quantile_upper_bound``)."""
    dist = F.col(contract.DIST)
    before = previous.table(contract.DECISIONS).filter(dist.isNotNull())
    return quantile_upper_bound(before, DRIFT_QUANTILE)


def measure(
    previous: OpenRun, added: DataFrame, limit: float | None, p95: float | None = None
) -> dict[str, Any]:
    """The drift facts of ``added`` (rows with ``dist`` to the frozen DBP centroids) against
    the previous run's rows; ``p95``: their ``previous_p95`` when already measured."""
    dist = F.col(contract.DIST)
    if p95 is None:
        p95 = previous_p95(previous)
    row = added.agg(
        F.count(F.lit(1)).alias("n"), F.sum((dist > F.lit(p95)).cast("long")).alias("beyond")
    ).first()
    n = int(row["n"]) if row else 0
    beyond = int(row["beyond"] or 0) if row else 0
    share = beyond / n if n else 0.0
    return {
        "previous_dist_p95": p95,
        "added_rows_in_dbp": n,
        "added_beyond_p95": beyond,
        "share_beyond_p95": round(share, 6),
        "refit_above": limit,
        "refit_due": limit is not None and n > 0 and share > limit,
    }


def warn_if_due(facts: dict[str, Any]) -> None:
    """``refit: warn``: the warning that the frozen centroids no longer fit."""
    if facts["refit_due"]:
        log.warning(
            "incremental: %s, above incremental.refit_above %.1f%%: the frozen centroids no "
            "longer fit the data, a full refit is due (run once without incremental.previous_run "
            "and with incremental.from_output=false, or set incremental.refit: auto)",
            _describe(facts),
            100 * (facts["refit_above"] or 0),
        )


def _describe(facts: dict[str, Any]) -> str:
    return (
        f"{100 * facts['share_beyond_p95']:.1f}% of the {facts['added_rows_in_dbp']} added rows "
        f"lie beyond the previous rows' 95th percentile of dist ({facts['previous_dist_p95']:.4f})"
    )


def before_stages(
    spark: SparkSession, cfg: PipelineConfig, previous: OpenRun, added: DataFrame, frame: DataFrame
) -> dict[str, Any]:
    """``refit: auto``: the drift of the added rows of ``frame`` (``added``: their ids),
    measured on the previous run's DBP centroids before any stage runs."""
    id_col, emb_col = cfg.input.id_column, cfg.input.embedding_column
    if not cfg.dbp.enabled:
        raise ConfigError(f"{AUTO_KEY}: auto measures drift on DBP's centroids; dbp is disabled")
    if emb_col not in frame.columns:
        raise ConfigError(
            f"{AUTO_KEY}: auto needs the input's embedding column {emb_col!r} before the run "
            f"(not embeddings computed by the embed stage); use refit: warn"
        )
    dim = (previous.manifest.get("input") or {}).get("embedding_dim")
    if not dim:
        raise ConfigError(f"{AUTO_KEY}: run {previous.location!r} recorded no embedding_dim")
    centroids = load_centroids(spark, previous.location, "dbp", AUTO_KEY, int(dim), None)
    rows = as_array_embeddings(frame.join(added, id_col, "left_semi"), emb_col)
    valid = rows.filter(invalid_detail(emb_col, int(dim), element_type(rows, emb_col)).isNull())
    assigned = assign_clusters(
        valid, centroids.vectors, id_col, emb_col, int(dim), cluster_ids=centroids.ids
    )
    facts = measure(previous, assigned, cfg.incremental.refit_above)
    facts["measured_on"] = "every added row with a valid embedding, before any stage"
    return facts


def log_refit(facts: dict[str, Any]) -> None:
    log.warning(
        "incremental: %s, above incremental.refit_above %.1f%%: incremental.refit is auto, so "
        "this run is a full run on the new version (both k-means refitted, nothing reused)",
        _describe(facts),
        100 * (facts["refit_above"] or 0),
    )


def with_centroids_from(cfg: PipelineConfig, source: str | None) -> PipelineConfig:
    """``cfg`` with both k-means frozen to the run at ``source`` (None: fitted afresh)."""
    dbp = replace(cfg.dbp, kmeans=replace(cfg.dbp.kmeans, centroids_from=source))
    sd = replace(cfg.semdedup, kmeans=replace(cfg.semdedup.kmeans, centroids_from=source))
    return replace(cfg, dbp=dbp, semdedup=sd)


def full_run_config(cfg: PipelineConfig) -> PipelineConfig:
    """``cfg`` with both k-means fitted again (``resolve`` froze them to the previous run)."""
    return with_centroids_from(cfg, None)
