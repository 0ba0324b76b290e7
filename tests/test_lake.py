"""The Delta layer: paths and catalog names, versions, commit metadata, idempotent appends."""

from __future__ import annotations

from pathlib import Path

import pytest
from pyspark.sql import SparkSession

from spark_prune.errors import OutputError
from spark_prune.lake import (
    DeltaLocation,
    is_table_name,
    quote_identifier,
    read_text,
    text_exists,
    write_text,
)


def test_path_table_versions_and_metadata(spark: SparkSession, tmp_path: Path) -> None:
    table = DeltaLocation(str(tmp_path / "t"))
    assert not table.is_catalog and not table.exists(spark)
    first = spark.createDataFrame([(1, "a"), (2, "b")], "id long, v string")
    assert table.write(first, {"run_id": "r1"}) == 0
    assert table.write(first.limit(1), {"run_id": "r2"}) == 1
    assert table.exists(spark) and table.latest_version(spark) == 1
    assert table.last_user_metadata(spark) == {"run_id": "r2"}
    assert table.read(spark, 0).count() == 2 and table.read(spark).count() == 1
    assert table.history(spark).count() == 2


def test_an_empty_overwrite_of_an_empty_table_gets_a_version_of_its_own(
    spark: SparkSession, tmp_path: Path
) -> None:
    """Delta commits nothing for it; a rerun of a run whose stage was off must still name a
    version written under its own run id (readers check it)."""
    table = DeltaLocation(str(tmp_path / "clusters"))
    empty = spark.createDataFrame([], "cluster_id int, size long")
    assert table.write(empty, {"run_id": "r1"}) == 0
    assert table.write(empty, {"run_id": "r2"}) == 1
    assert table.last_user_metadata(spark) == {"run_id": "r2"}
    assert table.read(spark, 1).count() == 0 and table.read(spark).columns == empty.columns
    assert spark.conf.get("spark.databricks.delta.commitInfo.userMetadata", None) is None
    assert table.write(empty.union(spark.createDataFrame([(1, 2)], empty.schema)), {"r": 3}) == 2


def test_local_commits_read_from_the_log_agree_with_history(
    spark: SparkSession, tmp_path: Path
) -> None:
    table, as_uri = DeltaLocation(str(tmp_path / "t")), DeltaLocation((tmp_path / "t").as_uri())
    assert table._local_last_commit(spark) is None  # no table yet: history decides
    rows = spark.createDataFrame([(1,)], "id long")
    for step in range(3):
        table.append(rows, {"step": step}, txn=("app", 1))  # the retried appends add no commit
        table.write(rows, {"step": step, "kind": "overwrite"})
        row = table.history(spark, 1).first()
        assert row is not None
        expected = {"version": row["version"], "userMetadata": row["userMetadata"]}
        assert table._local_last_commit(spark) == expected == as_uri._local_last_commit(spark)
    assert table.latest_version(spark) == 3  # one append and three overwrites
    assert DeltaLocation("s3://bucket/t")._local_last_commit(spark) is None


def test_append_with_a_transaction_id_is_written_once(spark: SparkSession, tmp_path: Path) -> None:
    table = DeltaLocation(str(tmp_path / "cache"))
    rows = spark.createDataFrame([(1,), (2,)], "id long")
    table.append(rows, {"step": 1}, txn=("app-1", 7))
    table.append(rows, {"step": 1}, txn=("app-1", 7))  # a retried step: skipped by Delta
    assert table.read(spark).count() == 2
    table.append(rows, {"step": 2}, txn=("app-1", 8))
    assert table.read(spark).count() == 4


def test_catalog_table(spark: SparkSession) -> None:
    spark.sql("CREATE DATABASE IF NOT EXISTS lake_test")
    table = DeltaLocation("lake_test.t")
    assert table.is_catalog
    table.write(spark.createDataFrame([(1,)], "id long"), {"run_id": "r1"})
    table.write(spark.createDataFrame([(1,), (2,)], "id long"), {"run_id": "r2"})
    assert table.exists(spark) and table.latest_version(spark) == 1
    assert table.read(spark, 0).count() == 1 and table.read(spark).count() == 2


def test_a_directory_that_is_not_delta_does_not_exist_as_a_table(
    spark: SparkSession, tmp_path: Path
) -> None:
    spark.createDataFrame([(1,)], "id long").write.parquet(str(tmp_path / "p"))
    assert not DeltaLocation(str(tmp_path / "p")).exists(spark)
    with pytest.raises(Exception, match="not a Delta table|is not a Delta table|DELTA"):
        DeltaLocation(str(tmp_path / "p")).latest_version(spark)


def test_names_quoting_and_text_files(spark: SparkSession, tmp_path: Path) -> None:
    assert is_table_name("main.schema.t") and not is_table_name("s3://b/t")
    assert not is_table_name("/lake/t") and not is_table_name("t/x")
    assert quote_identifier("db.we`ird") == "`db`.`we``ird`"
    path = str(tmp_path / "sub" / "m.json")
    assert not text_exists(spark, path)
    write_text(spark, path, "{}\n")
    assert text_exists(spark, path) and read_text(spark, path) == "{}\n"
    assert not (tmp_path / "sub" / "m.json.tmp").exists()


def test_a_text_file_under_a_file_is_an_output_error(spark: SparkSession, tmp_path: Path) -> None:
    (tmp_path / "plain").write_text("x")
    with pytest.raises(OutputError, match="cannot write"):
        write_text(spark, str(tmp_path / "plain" / "report.html"), "<html/>")
