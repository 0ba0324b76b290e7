"""The DBP stage: k-means, per-cluster complexity and quotas, keep the hardest rows."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

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

    def manifest_entries(self) -> Mapping[str, Any]:
        return {
            "kmeans": {"dbp": dict(self.kmeans), "dbp_empty_clusters": self.empty_clusters},
            "dbp": {"rows_in": self.rows_in, "target": self.target, "hierarchy": self.hierarchy},
        }


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
        from spark_prune.clustering import fit_kmeans

        cfg, id_col = ctx.cfg.dbp, ctx.id_col
        n_estimate = ctx.rows_read or 0  # an upper bound: sizes the sample's hash prefilter
        with ctx.timed("dbp.fit"):
            km = fit_kmeans(rows, id_col, ctx.emb_col, ctx.dim, n_estimate, cfg.kmeans)
        with ctx.timed("dbp.assign"):
            assigned = ctx.persist(
                assign_clusters(rows, km.centroids, id_col, ctx.emb_col, ctx.dim)
            )
            n_rows = assigned.count()
            target = dbp.target_count(cfg, n_rows)
        with ctx.timed("dbp.stats"):
            stats = dbp.cluster_stats(assigned)
        with ctx.timed("dbp.select"):  # the same call `spark-prune evaluate` makes
            plan, selected = dbp.plan_and_select(
                ctx.spark, assigned, stats, km.centroids, cfg, id_col, n_rows
            )
            selected = ctx.persist(selected)
            clusters = dbp.finish_cluster_table(plan, selected, km.centroids)
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
            empty_clusters=int(km.centroids.shape[0] - len(stats)),
            kmeans=km.describe(),
            hierarchy=plan.hierarchy,
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
