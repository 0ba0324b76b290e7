"""The embed stage: appends embedding columns to every input row (cached in Delta)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import Any

from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import types as T

from spark_prune.config import PipelineConfig
from spark_prune.contract import EMBEDDINGS
from spark_prune.io import OutputLocation, read_input, with_absolute_paths
from spark_prune.stages.base import DecisionColumn, RunContext, StageOutput, StageReport


@dataclass
class EmbedReport(StageReport):
    facts: Mapping[str, Any] = field(default_factory=dict)  # model, cache key, rows embedded

    def manifest_entries(self) -> Mapping[str, Any]:
        return {"embed": dict(self.facts)}


class EmbedStage:
    name = "embed"
    reason: str | None = None
    columns: tuple[DecisionColumn, ...] = ()
    tables: Mapping[str, T.StructType] = {}

    def enabled(self, cfg: PipelineConfig) -> bool:
        return cfg.embed.enabled

    def input_columns(self, cfg: PipelineConfig) -> list[str]:
        return []

    def run(self, ctx: RunContext, rows: DataFrame) -> StageOutput:
        from spark_prune.embed import embed  # torch and open_clip only when embedding

        cfg = embed_with_cache(ctx.cfg)
        source = f"{cfg.input.path}@{ctx.input_version}"
        embedded, facts = embed(ctx.spark, rows, cfg.embed, ctx.id_col, source)
        report = EmbedReport(self.name, facts=facts)
        return StageOutput(survivors=embedded, report=report, full_rows=embedded)


def embed_with_cache(cfg: PipelineConfig) -> PipelineConfig:
    """The config with embedding on and a cache table (default ``<output>/embeddings``), so
    later runs and stages read the stored embeddings instead of rerunning the model."""
    embed_cfg = replace(cfg.embed, enabled=True)
    if embed_cfg.cache_path is None:
        embed_cfg = replace(embed_cfg, cache_path=OutputLocation(cfg.output).table_ref(EMBEDDINGS))
    embed_cfg.validate("embed")
    return replace(cfg, embed=embed_cfg)


def embed_only(spark: SparkSession, cfg: PipelineConfig) -> dict[str, Any]:
    """The embed stage alone (a separate job step): fill the embeddings cache table for the
    input's new ids and return what it did."""
    from spark_prune.embed import embed

    cfg.embed.check_ready()
    cfg = embed_with_cache(with_absolute_paths(cfg))
    source, version = read_input(spark, cfg.input)
    _, info = embed(spark, source, cfg.embed, cfg.input.id_column, f"{cfg.input.path}@{version}")
    return {
        "input": cfg.input.path,
        "input_version": version,
        "cache": cfg.embed.cache_path,
        **info,
    }
