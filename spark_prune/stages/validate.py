"""The validate stage: schema checks fail fast; unusable rows are recorded ``invalid``."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from pyspark.sql import Column, DataFrame
from pyspark.sql import functions as F
from pyspark.sql import types as T

from spark_prune.config import PipelineConfig
from spark_prune.contract import EMBED_ERROR, INVALID
from spark_prune.errors import InputError
from spark_prune.preflight import check_rows
from spark_prune.stages.base import (
    INVALID as INVALID_COL,
)
from spark_prune.stages.base import (
    REMOVED,
    DecisionColumn,
    RunContext,
    StageOutput,
    StageReport,
)
from spark_prune.validate import (
    as_array_embeddings,
    check_columns,
    check_configured_dim,
    check_unique_ids,
    element_type,
    embedding_census,
    invalid_detail,
)


@dataclass
class ValidateReport(StageReport):
    embedding_dim: int | None = 0

    def manifest_entries(self) -> Mapping[str, object]:
        return {"input": {"embedding_dim": self.embedding_dim}}


class ValidateStage:
    name = "validate"
    reason: str | None = INVALID
    columns: tuple[DecisionColumn, ...] = ()
    tables: Mapping[str, T.StructType] = {}

    def enabled(self, cfg: PipelineConfig) -> bool:
        return True

    def input_columns(self, cfg: PipelineConfig) -> list[str]:
        return []

    def run(self, ctx: RunContext, rows: DataFrame) -> StageOutput:
        id_col, emb_col = ctx.id_col, ctx.emb_col
        check_columns(rows, id_col, emb_col)
        check_unique_ids(rows, id_col)
        rows = as_array_embeddings(rows, emb_col)  # Spark ML vectors: array<float>
        error_col = EMBED_ERROR if EMBED_ERROR in rows.columns else None
        census = embedding_census(rows, emb_col, error_col)  # one pass over the embeddings
        check_configured_dim(ctx.cfg.input.embedding_dim, census)
        dim = ctx.cfg.input.embedding_dim or census.dimension()
        ctx.embedding_dim = dim
        ctx.rows_read = census.total
        wanted = [id_col, emb_col, *ctx.needed_columns]
        missing = [c for c in ctx.needed_columns if c not in rows.columns]
        if missing:
            raise InputError(
                f"input has no column {missing[0]!r} ({_key_naming(ctx.cfg, missing[0])}); "
                f"columns are: {', '.join(rows.columns)}"
            )
        n_valid = census.valid(dim)
        check_rows(ctx.cfg, ctx.rows_read, n_valid, ctx.input_version)
        detail = row_detail(rows, emb_col, dim, error_col, all_valid=n_valid == census.total)
        checked = rows.select(*dict.fromkeys(wanted), detail.alias(INVALID_COL))
        decisions = checked.select(id_col, F.lit(None).cast("boolean").alias(REMOVED), INVALID_COL)
        survivors = checked.filter(F.col(INVALID_COL).isNull()).drop(INVALID_COL)
        ctx.valid_rows = survivors
        report = ValidateReport(
            self.name, rows_in=ctx.rows_read, invalid=ctx.rows_read - n_valid, embedding_dim=dim
        )
        return StageOutput(survivors=survivors, report=report, decisions=decisions)


def row_detail(
    rows: DataFrame, emb_col: str, dim: int | None, error_col: str | None, all_valid: bool
) -> Column:
    """Each row's reason to be invalid (null: usable). When the census found every row usable
    (the input is pinned, so a re-read finds the same rows) it is a null literal: the
    survivors' filter folds away and the decisions read only the id, not the embeddings
    again in every later pass."""
    if all_valid:
        return F.lit(None).cast("string")
    detail = invalid_detail(emb_col, dim, element_type(rows, emb_col))
    if error_col is not None:  # the embed stage's reason comes first
        detail = F.coalesce(F.col(error_col), detail)
    return detail


def _key_naming(cfg: PipelineConfig, column: str) -> str:
    """The config key that names an input ``column`` a stage reads."""
    keep_by = cfg.semdedup.keep_by
    keys = {
        "clip_filter.score_column": cfg.clip_filter.score_column,
        "clip_filter.image_column": cfg.clip_filter.image_column,
        "clip_filter.text_column": cfg.clip_filter.text_column,
        "semdedup.keep_by.column": keep_by.column if keep_by is not None else None,
    }
    return next((key for key, value in keys.items() if value == column), "named by the config")
