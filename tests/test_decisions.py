"""The decisions table from declared stage columns: reason precedence by registry order."""

from __future__ import annotations

from collections.abc import Mapping

from pyspark.sql import SparkSession
from pyspark.sql import types as T

from spark_prune.decisions import assemble, count_reasons
from spark_prune.stages import DecisionColumn, StageOutput, StageReport
from spark_prune.stages.base import INVALID, REMOVED


class Fake:
    def __init__(self, name: str, reason: str | None, columns: tuple[DecisionColumn, ...]) -> None:
        self.name, self.reason, self.columns = name, reason, columns
        self.tables: Mapping[str, T.StructType] = {}


def _frame(spark: SparkSession, rows: list[tuple], extra: str = "") -> object:
    schema = f"id long, {extra + ', ' if extra else ''}{REMOVED} boolean, {INVALID} string"
    return spark.createDataFrame(rows, schema)


def test_first_stage_in_registry_order_gives_the_reason(spark: SparkSession) -> None:
    first = Fake("first", "invalid", ())
    second = Fake("second", "second", (DecisionColumn("score", T.DoubleType()),))
    third = Fake("third", "dbp", (DecisionColumn("cluster_id", T.IntegerType()),))
    unused = Fake("unused", "unused", (DecisionColumn("semdedup_partner", None),))
    everyone = [(1, None, None), (2, None, "bad"), (3, None, None), (4, None, None)]
    scored = [(1, 0.5, False, None), (3, 0.1, True, None), (4, None, None, "no score")]
    outputs = [
        (first, _frame(spark, everyone)),
        (second, _frame(spark, scored, "score double")),
        (third, _frame(spark, [(1, 7, True, None)], "cluster_id int")),
    ]
    registry = [first, second, third, unused]
    wrapped = [
        (stage, StageOutput(survivors=frame, report=StageReport(stage.name), decisions=frame))  # type: ignore[arg-type]
        for stage, frame in outputs
    ]
    table = assemble(registry, wrapped, "id")  # type: ignore[arg-type]
    assert table.columns == [
        "id",
        "cluster_id",
        "semdedup_partner",
        "score",
        "kept",
        "reason",
        "detail",
    ]
    assert dict(table.dtypes)["semdedup_partner"] == "bigint"  # the id's type
    got = {r["id"]: (r["kept"], r["reason"], r["detail"]) for r in table.collect()}
    assert got == {
        1: (False, "dbp", None),
        2: (False, "invalid", "bad"),
        3: (False, "second", None),
        4: (False, "invalid", "no score"),
    }
    assert count_reasons(table) == {
        "input": 4,
        "kept": 0,
        "invalid": 2,
        "semdedup": 0,
        "clip_score": 0,
        "dbp": 1,
        "second": 1,
    }


def test_a_row_no_stage_removed_is_kept(spark: SparkSession) -> None:
    only = Fake("only", "invalid", ())
    frame = _frame(spark, [(1, None, None), (2, False, None)])
    out = StageOutput(survivors=frame, report=StageReport("only"), decisions=frame)  # type: ignore[arg-type]
    rows = assemble([only], [(only, out)], "id").collect()  # type: ignore[list-item]
    assert [(r["kept"], r["reason"]) for r in rows] == [(True, None), (True, None)]


def test_a_clean_validation_is_not_joined_when_the_next_stage_saw_every_row(
    spark: SparkSession,
) -> None:
    """Validation that found nothing invalid adds nothing to a row: when the next stage
    received every input row its decisions are the base (no join of a row-sized table),
    with the same table as the join gives."""
    first = Fake("first", "invalid", ())
    second = Fake("second", "dbp", (DecisionColumn("cluster_id", T.IntegerType()),))
    everyone = _frame(spark, [(1, None, None), (2, None, None), (3, None, None)])
    chosen = _frame(spark, [(1, 4, True, None), (2, 4, False, None), (3, 5, True, None)],
                    "cluster_id int")  # fmt: skip

    def table(second_saw: int):  # type: ignore[no-untyped-def]
        reports = [StageReport("first", rows_in=3, invalid=0), StageReport("second", second_saw)]
        outputs = [
            (stage, StageOutput(survivors=frame, report=report, decisions=frame))  # type: ignore[arg-type]
            for stage, frame, report in zip(
                (first, second), (everyone, chosen), reports, strict=True
            )
        ]
        return assemble([first, second], outputs, "id")  # type: ignore[arg-type]

    plain, joined = table(second_saw=3), table(second_saw=2)  # 2: a row went missing
    assert "Join" not in plain._jdf.queryExecution().optimizedPlan().toString()
    assert "Join" in joined._jdf.queryExecution().optimizedPlan().toString()
    assert sorted(plain.collect()) == sorted(joined.collect())
    assert [r["reason"] for r in plain.orderBy("id").collect()] == ["dbp", None, "dbp"]
