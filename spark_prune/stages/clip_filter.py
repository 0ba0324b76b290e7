"""The CLIP-score stage: keep rows whose image-text score passes a threshold or a top fraction."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

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

NO_SCORE = "clip score is null"


@dataclass
class ClipFilterReport(StageReport):
    def counts(self) -> Mapping[str, int]:
        return {"clip_score_invalid": self.invalid or 0}


class ClipFilterStage:
    name = "clip_filter"
    checkpoint = True  # persisted when finished; a rerun resumes (resume.py)
    reason: str | None = contract.CLIP_SCORE_REASON
    columns: tuple[DecisionColumn, ...] = (DecisionColumn(contract.CLIP_SCORE, T.DoubleType()),)
    tables: Mapping[str, T.StructType] = {}

    def enabled(self, cfg: PipelineConfig) -> bool:
        return cfg.clip_filter.enabled

    def input_columns(self, cfg: PipelineConfig) -> list[str]:
        clip = cfg.clip_filter
        if clip.score_column:
            return [clip.score_column]
        return [clip.image_column, clip.text_column]

    def run(self, ctx: RunContext, rows: DataFrame) -> StageOutput:
        from spark_prune.clip_filter import clip_decisions, clip_scores

        cfg, id_col = ctx.cfg.clip_filter, ctx.id_col
        scores = ctx.persist(clip_scores(rows, cfg, id_col))
        n_scored = scores.filter(F.col(contract.CLIP_SCORE).isNotNull()).count()
        scored = ctx.persist(clip_decisions(scores, cfg, id_col, n_scored))
        verdict = F.col("clip_removed")
        decisions = scored.select(
            id_col,
            contract.CLIP_SCORE,
            verdict.alias(REMOVED),
            F.when(verdict.isNull(), F.lit(NO_SCORE)).alias(INVALID),
        )
        report = ClipFilterReport(
            self.name,
            rows_in=scored.count(),
            removed=scored.filter(verdict).count(),
            invalid=scored.filter(verdict.isNull()).count(),
        )
        dropped = scored.filter(verdict.isNull() | verdict).select(id_col)
        survivors = rows.join(dropped, id_col, "left_anti")
        return StageOutput(survivors=survivors, report=report, decisions=decisions)
