"""The validate stage (stages/validate.py): survivors, per-row decisions, its report."""

from __future__ import annotations

import re
from pathlib import Path

from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F

from spark_prune.contract import EMBED_ERROR
from spark_prune.stages.base import INVALID, REMOVED, RunContext
from spark_prune.stages.validate import ValidateStage
from tests.helpers import SCHEMA, make_config


def test_invalid_rows_leave_the_survivors(spark: SparkSession) -> None:
    rows = [(1, [1.0, 0.0], "a"), (2, None, "b"), (3, [0.0, 0.0], "c"), (4, [1.0, 2.0], "d")]
    df = spark.createDataFrame(rows, SCHEMA).withColumn(
        EMBED_ERROR, F.when(F.col("id") == 4, F.lit("image could not be decoded"))
    )
    ctx = RunContext(spark, make_config("in", "out"), "r", progress=False)
    out = ValidateStage().run(ctx, df)
    assert sorted(r["id"] for r in out.survivors.collect()) == [1]
    assert out.survivors.columns == ["id", "image_emb"]
    got = {r["id"]: (r[REMOVED], r[INVALID]) for r in out.decisions.collect()}  # type: ignore[union-attr]
    assert got == {
        1: (None, None),
        2: (None, "embedding is null"),
        3: (None, "embedding has zero norm"),
        4: (None, "image could not be decoded"),
    }
    assert (ctx.embedding_dim, ctx.rows_read) == (2, 4)
    assert out.report.manifest_entries() == {"input": {"embedding_dim": 2}}


def _plan(df: DataFrame) -> str:
    return str(df._jdf.queryExecution().executedPlan().toString())


def test_an_all_valid_input_is_not_checked_again_row_by_row(
    spark: SparkSession, tmp_path: Path
) -> None:
    """The census found every row usable: the decisions read only the id, and the survivors
    carry no per-row check into the passes after validation."""
    valid = [(1, [1.0, 0.0], "a"), (2, [0.5, 0.5], "b"), (3, [0.0, 2.0], "c")]
    path = str(tmp_path / "valid")
    spark.createDataFrame(valid, SCHEMA).write.parquet(path)
    ctx = RunContext(spark, make_config("in", "out"), "r", progress=False)
    out = ValidateStage().run(ctx, spark.read.parquet(path))
    assert out.decisions is not None and out.report.invalid == 0
    assert {r["id"]: r[INVALID] for r in out.decisions.collect()} == {1: None, 2: None, 3: None}
    assert re.findall(r"ReadSchema: struct<([^>]*)>", _plan(out.decisions)) == ["id:bigint"]
    assert "Filter " not in _plan(out.survivors)  # the plan node, not "DataFilters"
    assert sorted(r["id"] for r in out.survivors.collect()) == [1, 2, 3]

    spark.createDataFrame([(4, [0.0, 0.0], "d")], SCHEMA).write.mode("append").parquet(path)
    out = ValidateStage().run(ctx, spark.read.parquet(path))  # one invalid row: checked
    assert "Filter " in _plan(out.survivors)
    assert sorted(r["id"] for r in out.survivors.collect()) == [1, 2, 3]
