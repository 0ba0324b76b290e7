"""What stages share (stages/base.py): decision columns, reports, the run context."""

from __future__ import annotations

import pytest
from pyspark.sql import SparkSession
from pyspark.sql import types as T

from spark_prune.stages.base import DecisionColumn, RunContext, StageReport
from tests.helpers import make_config


def test_decision_column_field_defaults_to_the_id_type() -> None:
    assert DecisionColumn("x", T.DoubleType()).field(T.StringType()) == T.StructField(
        "x", T.DoubleType(), True
    )
    assert DecisionColumn("partner", None).field(T.StringType()).dataType == T.StringType()
    report = StageReport("s", rows_in=3)
    assert (report.manifest_entries(), report.counts(), report.removed) == ({}, {}, None)


def test_run_context(spark: SparkSession) -> None:
    ctx = RunContext(spark, make_config("in", "out"), "r1", progress=False)
    assert (ctx.id_col, ctx.emb_col) == ("id", "image_emb")
    with pytest.raises(RuntimeError, match="only after validation"):
        _ = ctx.dim
    ctx.embedding_dim = 4
    assert ctx.dim == 4
    df = ctx.persist(spark.range(5))
    assert df.count() == 5 and df.is_cached and ctx.cached == [df]
    ctx.release()
    assert not df.is_cached and ctx.cached == []
    with ctx.timed("step"):
        pass
    assert set(ctx.timings) == {"step"} and ctx.timings["step"] >= 0
