"""The stage protocol: a new stage is one class and one registry entry; the decisions table,
its reason precedence and the counts follow from what stages declare."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F
from pyspark.sql import types as T

from spark_prune.config import PipelineConfig
from spark_prune.decisions import decision_fields
from spark_prune.pipeline import run
from spark_prune.stages import REGISTRY, DecisionColumn, RunContext, StageOutput, StageReport
from spark_prune.stages.base import INVALID, REMOVED
from tests.helpers import embedding_rows, make_config, write_input

MIN_CAPTION = 8  # "row 999" has 7 characters, "row 1000" 8: ids below 1000 are cut


@dataclass
class CaptionReport(StageReport):
    def manifest_entries(self) -> Mapping[str, object]:
        return {"caption_length": {"min_length": MIN_CAPTION, "removed": self.removed}}


class CaptionLengthStage:
    """A stage defined here, in the test: drop rows whose caption is too short."""

    name = "caption_length"
    reason: str | None = "caption_length"
    columns: tuple[DecisionColumn, ...] = (DecisionColumn("caption_length", T.IntegerType()),)
    tables: Mapping[str, T.StructType] = {}

    def enabled(self, cfg: PipelineConfig) -> bool:
        return True

    def input_columns(self, cfg: PipelineConfig) -> list[str]:
        return ["caption"]

    def run(self, ctx: RunContext, rows: DataFrame) -> StageOutput:
        length = F.length("caption")
        decisions = rows.select(
            ctx.id_col,
            length.cast("int").alias("caption_length"),
            (length < MIN_CAPTION).alias(REMOVED),
            F.lit(None).cast("string").alias(INVALID),
        )
        removed = decisions.filter(REMOVED).count()
        survivors = rows.filter(length >= MIN_CAPTION)
        report = CaptionReport(self.name, rows_in=rows.count(), removed=removed)
        return StageOutput(survivors=survivors, report=report, decisions=decisions)


def _input(spark: SparkSession, workdir: Path) -> str:
    ids, x = embedding_rows(400, 8, 4, seed=3)
    ids = ids + 900  # ids 900..1299: the first 100 captions are short
    rows: list = list(x)
    rows[5] = None  # one invalid row, and it has a short caption too
    return write_input(spark, workdir / "in", ids, rows)


def test_a_stage_defined_outside_the_package_joins_the_run(
    spark: SparkSession, workdir: Path
) -> None:
    registry = (*REGISTRY[:2], CaptionLengthStage(), *REGISTRY[2:])  # after validate
    cfg = make_config(_input(spark, workdir), str(workdir / "out"))
    result = run(spark, cfg, registry=registry)

    decisions = spark.read.format("delta").load(str(workdir / "out" / "decisions")).toPandas()
    assert "caption_length" in decisions.columns
    short = decisions["caption_length"].fillna(0) < MIN_CAPTION
    # the invalid row keeps its reason: validate comes first in the registry
    assert decisions.loc[decisions["id"] == 905, "reason"].item() == "invalid"
    by_stage = decisions.loc[short & (decisions["id"] != 905), "reason"]
    assert set(by_stage) == {"caption_length"} and len(by_stage) == 99
    counts = result.counts
    assert counts["caption_length"] == 99
    assert counts["input"] == counts["kept"] + sum(
        counts[r] for r in ("invalid", "semdedup", "clip_score", "dbp", "caption_length")
    )
    assert result.manifest["caption_length"] == {"min_length": MIN_CAPTION, "removed": 99}
    # DBP saw only the survivors of the new stage
    assert decisions.loc[short, "cluster_id"].isna().all()
    assert decisions.loc[~short & decisions["detail"].isna(), "cluster_id"].notna().all()


def test_decision_columns_follow_the_contract_order() -> None:
    names = [f.name for f in decision_fields(REGISTRY, T.LongType())]
    assert names == [
        "cluster_id",
        "dist",
        "rank_in_cluster",
        "semdedup_cluster_id",
        "semdedup_dist",
        "semdedup_max_sim",
        "semdedup_partner",
        "clip_score",
    ]
    partner = decision_fields(REGISTRY, T.StringType())[6]
    assert partner.dataType == T.StringType()  # the partner has the id's type


def test_registry_is_in_the_method_order() -> None:
    assert [s.name for s in REGISTRY] == ["embed", "validate", "semdedup", "clip_filter", "dbp"]
    assert np.all([hasattr(s, "run") and hasattr(s, "enabled") for s in REGISTRY])
