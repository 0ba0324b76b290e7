"""Rows rewritten in place under their ids (input_history.py): read from the input's Delta
history, and an incremental run without a change data feed that meets one recomputes every row,
so it still equals the full run frozen to the previous run's centroids."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from pyspark.sql import DataFrame, SparkSession

from spark_prune import contract
from spark_prune.core.vectors import l2_normalize
from spark_prune.input_history import History, commit_kind, read_history
from spark_prune.pipeline import RunResult, run
from tests.helpers import SCHEMA, embedding_rows, make_config, write_input

pytestmark = pytest.mark.slow  # run first under xdist (tests/conftest.py)

DIM, K = 8, 4
SECTIONS = {
    "semdedup": {"enabled": True, "eps": 0.05, "kmeans": {"k": K, "iterations": 10}},
    "dbp": {"keep_fraction": 0.5, "kmeans": {"k": K, "iterations": 10}},
}


def test_commits_that_may_rewrite_rows_are_found(spark: SparkSession, tmp_path: Path) -> None:
    table = str(tmp_path / "t")
    spark.range(10).selectExpr("id", "double(id) AS v").write.format("delta").save(table)
    ref = f"delta.`{table}`"
    steps = [
        lambda: spark.range(10, 12).selectExpr("id", "double(id) AS v").write.format("delta")
        .mode("append").save(table),  # 1: append
        lambda: spark.sql(f"DELETE FROM {ref} WHERE id = 3"),  # 2
        lambda: spark.sql(f"MERGE INTO {ref} t USING (SELECT 20L AS id, 1.0D AS v) s "
                          f"ON t.id = s.id WHEN NOT MATCHED THEN INSERT *"),  # 3: inserts only
        lambda: spark.sql(f"UPDATE {ref} SET v = 5 WHERE id = 4"),  # 4
        lambda: spark.sql(f"MERGE INTO {ref} t USING (SELECT 5L AS id, 1.0D AS v) s "
                          f"ON t.id = s.id WHEN MATCHED THEN UPDATE SET *"),  # 5: updates
        lambda: spark.sql(f"OPTIMIZE {ref}"),  # 6
        lambda: spark.range(3).selectExpr("id", "double(id) AS v").write.format("delta")
        .mode("overwrite").save(table),  # 7
        lambda: spark.sql(f"RESTORE {ref} TO VERSION AS OF 2"),  # 8
    ]  # fmt: skip
    for step in steps:
        step()

    def rewrite(old: int, new: int) -> str | None:
        return read_history(spark, table, old, new).rewrite

    assert rewrite(0, 3) is None and rewrite(5, 6) is None
    assert rewrite(0, 8) == "version 4: UPDATE"
    assert rewrite(4, 6) == "version 5: MERGE"
    assert rewrite(5, 7) == "version 7: WRITE"
    assert rewrite(7, 8) == "version 8: RESTORE"
    # a delete (2) with rows added after it (3): ids may have come back; and before it (1)
    assert read_history(spark, table, 1, 3).missing_at == (2,)
    assert read_history(spark, table, 0, 2) == History(None, (), (2,))


def test_an_unrecorded_metric_or_an_unknown_operation_counts_as_the_worst() -> None:
    assert commit_kind("UPDATE", {}, {}) == "rewrite"
    assert commit_kind("MERGE", {}, {"numOutputRows": "1"}) == "rewrite"
    assert commit_kind("SOMETHING NEW", {}, {}) == "rewrite"
    assert commit_kind("RENAME COLUMN", {}, {}) == "rewrite"  # may swap in another column
    assert commit_kind("UPDATE", {}, {"numUpdatedRows": "0"}) == "none"
    assert commit_kind("STREAMING UPDATE", {"outputMode": "Append"}, {}) == "adds"
    assert commit_kind("STREAMING UPDATE", {"outputMode": "Complete"}, {}) == "rewrite"
    merge = {"numTargetRowsUpdated": "0", "numTargetRowsInserted": "2"}
    # inserting and deleting in one MERGE can replace a row under its id
    assert commit_kind("MERGE", {}, {**merge, "numTargetRowsDeleted": "1"}) == "rewrite"
    assert commit_kind("MERGE", {}, {**merge, "numTargetRowsDeleted": "0"}) == "adds"
    assert commit_kind("MERGE", {}, merge) == "rewrite"  # deletes not recorded
    assert commit_kind("DROP COLUMNS", {}, {}) == "rewrite"  # then ADD COLUMNS: all null


Change = Callable[[SparkSession, str, np.ndarray, np.ndarray], None]


def incremental_and_full(
    spark: SparkSession, tmp_path: Path, change: Change
) -> tuple[RunResult, RunResult, RunResult, np.ndarray]:
    """Run ``a`` on a fresh input, ``change`` it (no change data feed), then the incremental
    run from ``a`` and the full run frozen to ``a``'s centroids, both on the latest version."""
    ids, x = embedding_rows(160, DIM, K, seed=5)
    table = write_input(spark, tmp_path / "in", ids, x)

    def pipeline(name: str, **sections: dict[str, object]) -> RunResult:
        merged: dict[str, dict[str, object]] = dict(SECTIONS)
        for key, values in sections.items():
            merged[key] = {**merged.get(key, {}), **values}
        return run(spark, make_config(table, str(tmp_path / name), **merged))

    first = pipeline("a")
    change(spark, table, ids, x)
    frozen = {"kmeans": {"k": K, "iterations": 10, "centroids_from": str(tmp_path / "a")}}
    full = pipeline("full", dbp=frozen, semdedup=frozen)
    later = pipeline("b", incremental={"previous_run": str(tmp_path / "a")})
    for name in (contract.DECISIONS, contract.PRUNED):
        got, want = (table_of(spark, r, name) for r in (later, full))
        pd.testing.assert_frame_equal(got, want)
    return first, later, full, ids


def rows_of(spark: SparkSession, ids: Sequence[int], x: np.ndarray, text: str) -> DataFrame:
    pairs = zip(ids, x, strict=True)
    return spark.createDataFrame([(int(i), [float(v) for v in r], text) for i, r in pairs], SCHEMA)


def test_rows_updated_in_place_without_a_feed_equal_a_frozen_full_run(
    spark: SparkSession, tmp_path: Path
) -> None:
    def merge_then_append(spark: SparkSession, table: str, ids: np.ndarray, x: np.ndarray) -> None:
        moved = l2_normalize(np.roll(x[10:15], 1, axis=1))  # five rows, new embeddings
        moved[0] = x[0]  # one of them now a copy of row 0
        rows_of(spark, ids[10:15], moved, "moved").createOrReplaceTempView("moved_rows")
        spark.sql(f"MERGE INTO delta.`{table}` t USING moved_rows s ON t.id = s.id "
                  f"WHEN MATCHED THEN UPDATE SET *")  # fmt: skip
        rows_of(spark, [9000], x[1:2], "new").write.format("delta").mode("append").save(table)

    first, later, _, ids = incremental_and_full(spark, tmp_path, merge_then_append)
    facts = later.manifest["incremental"]
    assert facts["method"] == "all_rows" and facts["rewrite"] == "version 1: MERGE"
    assert (facts["added"], facts["deleted"]) == (161, 160)
    before = table_of(spark, first, contract.DECISIONS).set_index("id")
    after = table_of(spark, later, contract.DECISIONS).set_index("id")
    changed = [int(i) for i in ids[10:15] if before.at[i, "dist"] != after.at[i, "dist"]]
    assert len(changed) == 5  # the rewritten rows' distances are new, not the stored ones


def test_ids_deleted_then_appended_again_without_a_feed_are_recomputed(
    spark: SparkSession, tmp_path: Path
) -> None:
    """Manual upserts: DELETE then append the same ids with new embeddings (1, 2); append a
    new copy of an id, then DELETE the old copy (3, 4). Each commit is safe alone; together the
    anti-join would have kept the old results for those ids."""

    def upserts(spark: SparkSession, table: str, ids: np.ndarray, x: np.ndarray) -> None:
        ref = f"delta.`{table}`"
        spark.sql(f"DELETE FROM {ref} WHERE id BETWEEN {ids[20]} AND {ids[24]}")
        again = l2_normalize(np.roll(x[20:25], 2, axis=1))
        fresh = rows_of(spark, [*ids[20:25], 9001], np.concatenate([again, x[3:4]]), "again")
        fresh.write.format("delta").mode("append").save(table)
        copy = rows_of(spark, [ids[30]], l2_normalize(np.roll(x[30:31], 3, axis=1)), "copy")
        copy.write.format("delta").mode("append").save(table)
        spark.sql(f"DELETE FROM {ref} WHERE id = {ids[30]} AND caption <> 'copy'")

    _, later, _, _ = incremental_and_full(spark, tmp_path, upserts)
    facts = later.manifest["incremental"]
    assert facts["method"] == "anti_join" and facts["ids_read_at_versions"] == [1, 4]
    assert (facts["added"], facts["deleted"]) == (7, 6)


def table_of(spark: SparkSession, result: RunResult, name: str) -> pd.DataFrame:
    location = result.manifest["outputs"][name]["location"]
    frame = spark.read.format("delta").load(location).toPandas()
    return frame.sort_values("id").reset_index(drop=True)
