"""Embedding stage: open_clip image/text embeddings as Spark columns, cached in Delta.

Imports torch and open_clip lazily: ``import spark_prune.embed`` works without them.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from pyspark.sql import DataFrame, SparkSession

    from spark_prune.config import EmbedConfig

__all__ = ["embed", "load_model", "model_info"]


def embed(
    spark: SparkSession, df: DataFrame, cfg: EmbedConfig, id_col: str, source: str | None = None
) -> tuple[DataFrame, dict[str, Any]]:
    """See :func:`spark_prune.embed.stage.embed`."""
    from spark_prune.embed.stage import embed as _embed

    return _embed(spark, df, cfg, id_col, source)


def load_model(cfg: EmbedConfig, device: str | None = None) -> Any:
    """See :func:`spark_prune.embed.models.load_model`."""
    from spark_prune.embed.models import load_model as _load

    return _load(cfg, device)


def model_info(cfg: EmbedConfig) -> dict[str, Any]:
    """See :func:`spark_prune.embed.models.model_info`."""
    from spark_prune.embed.models import model_info as _info

    return _info(cfg)
