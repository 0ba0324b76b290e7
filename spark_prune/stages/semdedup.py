"""The SemDeDup stage: exact semantic deduplication inside k-means clusters."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

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

if TYPE_CHECKING:
    from spark_prune.semdedup import SemDedupCentroids


@dataclass
class SemDedupReport(StageReport):
    eps: float = 0.0
    reused_from_previous_run: bool = False
    reused_from: str | None = None  # the checkpoint or decisions table the values came from
    facts: Mapping[str, Any] = field(default_factory=dict)  # k-means, cost estimate, sizes

    def manifest_entries(self) -> Mapping[str, Any]:
        if self.reused_from_previous_run:
            reused = {"reused_from_previous_run": True, "reused_from": self.reused_from}
            return {"semdedup": {**reused, "eps": self.eps}}
        return {"semdedup": dict(self.facts)}


class SemDedupStage:
    name = "semdedup"
    checkpoint = True  # persisted when finished; a rerun resumes (resume.py)
    reason: str | None = contract.SEMDEDUP
    columns: tuple[DecisionColumn, ...] = (
        DecisionColumn(contract.SEMDEDUP_CLUSTER_ID, T.IntegerType()),
        DecisionColumn(contract.SEMDEDUP_DIST, T.DoubleType()),
        DecisionColumn(contract.SEMDEDUP_MAX_SIM, T.DoubleType()),
        DecisionColumn(contract.SEMDEDUP_PARTNER, None),
    )
    tables: Mapping[str, T.StructType] = {
        contract.SEMDEDUP_CLUSTERS: contract.SEMDEDUP_CLUSTERS_SCHEMA
    }

    def enabled(self, cfg: PipelineConfig) -> bool:
        return cfg.semdedup.enabled

    def input_columns(self, cfg: PipelineConfig) -> list[str]:
        keep_by = cfg.semdedup.keep_by
        return [keep_by.column] if keep_by is not None else []  # the survivor rule's column

    def run(self, ctx: RunContext, rows: DataFrame) -> StageOutput:
        from spark_prune.frozen import centroids_frame
        from spark_prune.semdedup import cluster_sizes, semdedup, semdedup_removed

        cfg, id_col = ctx.cfg.semdedup, ctx.id_col
        n_valid = rows.count()
        report = SemDedupReport(self.name, rows_in=n_valid, eps=cfg.eps)
        tables = {}
        if ctx.stored_semdedup is not None:
            stored = ctx.stored_semdedup.rows
            result = ctx.persist(rows.select(id_col).join(stored, id_col, "left"))
            report.reused_from_previous_run = True
            report.reused_from = ctx.stored_semdedup.source
        elif n_valid == 0:
            result, report.facts = semdedup(rows, cfg, id_col, ctx.emb_col, ctx.dim, n_valid)
        else:
            centroids = _centroids(ctx, rows, n_valid)
            if ctx.previous is not None:  # incremental: only clusters that changed
                result, facts = ctx.previous.semdedup(rows, centroids)
            else:
                result, facts = semdedup(
                    rows, cfg, id_col, ctx.emb_col, ctx.dim, n_valid, centroids
                )
            ctx.adopt(result)  # handed over persisted (incremental: a view of a kept frame)
            report.facts = facts
            sizes = cluster_sizes(result)
            table = centroids_frame(ctx.spark, centroids.ids, centroids.vectors, sizes)
            tables[contract.SEMDEDUP_CLUSTERS] = table
        # a cheap column over the cached rows: no second cached copy
        removed = semdedup_removed(F.col(contract.SEMDEDUP_MAX_SIM), cfg.eps)
        decisions = result.select(
            id_col,
            *[c.name for c in self.columns],
            removed.alias(REMOVED),
            F.lit(None).cast("string").alias(INVALID),
        )
        removed_ids = decisions.filter(F.col(REMOVED)).select(id_col)
        report.removed = removed_ids.count()
        # a shuffle join (adaptive execution may broadcast it when it is small)
        survivors = rows.join(removed_ids, id_col, "left_anti")
        return StageOutput(survivors=survivors, report=report, decisions=decisions, tables=tables)


def _centroids(ctx: RunContext, rows: DataFrame, n_valid: int) -> SemDedupCentroids:
    """Fitted on ``rows``, or an earlier run's (``semdedup.kmeans.centroids_from``)."""
    from spark_prune.frozen import load_centroids
    from spark_prune.semdedup import SemDedupCentroids, fit_centroids

    cfg = ctx.cfg.semdedup
    where = cfg.kmeans.centroids_from
    if not where:
        return fit_centroids(rows, cfg, ctx.id_col, ctx.emb_col, ctx.dim, n_valid)
    k = cfg.kmeans.k if isinstance(cfg.kmeans.k, int) else None
    key = "semdedup.kmeans.centroids_from"
    frozen = load_centroids(ctx.spark, where, "semdedup", key, ctx.dim, k)
    return SemDedupCentroids(
        frozen.vectors, frozen.ids, frozen.expected_sizes(n_valid), frozen.describe()
    )
