"""The DBP stage: k-means, per-cluster complexity and quotas, keep the hardest rows."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from pyspark.sql import DataFrame
from pyspark.sql import functions as F
from pyspark.sql import types as T

from spark_prune import contract
from spark_prune.config import PipelineConfig
from spark_prune.stages.base import (
    INVALID,
    REMOVED,
    DecisionColumn,
    RunContext,
    StageOutput,
    StageReport,
)


@dataclass
class DBPReport(StageReport):
    target: int = 0
    empty_clusters: int = 0
    kmeans: Mapping[str, Any] = field(default_factory=dict)
    hierarchy: Mapping[str, Any] | None = None  # strategy hierarchical: the levels fitted
    drift: Mapping[str, Any] = field(default_factory=dict)  # incremental runs

    def manifest_entries(self) -> Mapping[str, Any]:
        entries: dict[str, Any] = {
            "kmeans": {"dbp": dict(self.kmeans), "dbp_empty_clusters": self.empty_clusters},
            "dbp": {"rows_in": self.rows_in, "target": self.target, "hierarchy": self.hierarchy},
        }
        if self.drift:
            entries["incremental"] = {"drift": dict(self.drift)}
        return entries


@dataclass(frozen=True)
class Centroids:
    """What assignment and quotas need: the centroid rows and their ids, the (k, d) matrix
    indexed by cluster id, and the manifest's description of where they came from."""

    vectors: np.ndarray
    ids: np.ndarray | None
    dense: np.ndarray
    describe: Mapping[str, Any]


def _centroids(ctx: RunContext, rows: DataFrame) -> Centroids:
    """Fitted on ``rows``, or an earlier run's (``dbp.kmeans.centroids_from``)."""
    from spark_prune.clustering import fit_kmeans
    from spark_prune.frozen import load_centroids

    cfg = ctx.cfg.dbp.kmeans
    if cfg.centroids_from:
        key = "dbp.kmeans.centroids_from"
        frozen = load_centroids(ctx.spark, cfg.centroids_from, "dbp", key, ctx.dim, cfg.k)
        return Centroids(frozen.vectors, frozen.ids, frozen.dense(), frozen.describe())
    n_estimate = ctx.rows_read or 0  # an upper bound: sizes the sample's hash prefilter
    km = fit_kmeans(rows, ctx.id_col, ctx.emb_col, ctx.dim, n_estimate, cfg)
    return Centroids(km.centroids, None, km.centroids, km.describe())


class DBPStage:
    name = "dbp"
    checkpoint = True  # persisted when finished; a rerun resumes (resume.py)
    reason: str | None = contract.DBP
    columns: tuple[DecisionColumn, ...] = (
        DecisionColumn(contract.CLUSTER_ID, T.IntegerType()),
        DecisionColumn(contract.DIST, T.DoubleType()),
        DecisionColumn(contract.RANK_IN_CLUSTER, T.IntegerType()),
    )
    tables: Mapping[str, T.StructType] = {contract.CLUSTERS: contract.CLUSTERS_SCHEMA}

    def enabled(self, cfg: PipelineConfig) -> bool:
        return cfg.dbp.enabled

    def input_columns(self, cfg: PipelineConfig) -> list[str]:
        return []

    def run(self, ctx: RunContext, rows: DataFrame) -> StageOutput:
        from spark_prune import dbp
        from spark_prune.assign import assign_clusters

        cfg, id_col = ctx.cfg.dbp, ctx.id_col
        with ctx.timed("dbp.fit"):
            centroids = _centroids(ctx, rows)
        with ctx.timed("dbp.assign"):
            if ctx.previous is not None:  # incremental: stored rows plus the new ones
                assigned = ctx.persist(ctx.previous.dbp_assigned(rows, centroids, ctx.valid_rows))
            else:
                assigned = ctx.persist(
                    assign_clusters(
                        rows,
                        centroids.vectors,
                        id_col,
                        ctx.emb_col,
                        ctx.dim,
                        cluster_ids=centroids.ids,
                    )
                )
            n_rows = assigned.count()
            target = dbp.target_count(cfg, n_rows)
        with ctx.timed("dbp.stats"):
            stats = dbp.cluster_stats(assigned)
        with ctx.timed("dbp.select"):  # the same call `spark-prune evaluate` makes
            plan, selected = dbp.plan_and_select(
                ctx.spark, assigned, stats, centroids.dense, cfg, id_col, n_rows
            )
            selected = ctx.persist(selected)
            clusters = dbp.finish_cluster_table(plan, selected, centroids.dense)
        decisions = selected.select(
            id_col,
            *[c.name for c in self.columns],
            (~F.col(contract.KEPT)).alias(REMOVED),
            F.lit(None).cast("string").alias(INVALID),
        )
        report = DBPReport(
            self.name,
            rows_in=n_rows,
            target=target,
            empty_clusters=int(centroids.dense.shape[0] - len(stats)),
            kmeans=centroids.describe,
            hierarchy=plan.hierarchy,
            drift=ctx.previous.drift(assigned) if ctx.previous is not None else {},
        )
        kept_ids = selected.filter(contract.KEPT).select(id_col)
        survivors = rows.join(kept_ids, id_col, "left_semi")
        table = dbp.clusters_frame(ctx.spark, clusters)
        return StageOutput(
            survivors=survivors,
            report=report,
            decisions=decisions,
            tables={contract.CLUSTERS: table},
        )
