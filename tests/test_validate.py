"""Input checks (validate.py): schema errors, duplicate/null ids, the per-row invalid detail."""

from __future__ import annotations

from pathlib import Path

import pytest
from pyspark.sql import SparkSession
from pyspark.sql import functions as F
from pyspark.sql import types as T

from spark_prune.pipeline import run
from spark_prune.validate import (
    InputError,
    check_columns,
    check_unique_ids,
    embedding_census,
    infer_dimension,
    with_invalid_detail,
)
from tests.helpers import SCHEMA, decisions, embedding_rows, make_config, write_input

NAN, INF = float("nan"), float("inf")


def test_invalid_detail_names_each_problem(spark: SparkSession) -> None:
    rows = [
        (0, None, "c"),
        (1, [NAN, 1.0, 1.0], "c"),
        (2, [INF, 1.0, 1.0], "c"),
        (3, [-INF, 1.0, 1.0], "c"),
        (4, [0.0, 0.0, 0.0], "c"),
        (5, [1.0, 2.0], "c"),
        (6, [1.0, None, 1.0], "c"),
        (7, [0.0, -1.0, 0.0], "c"),
        (8, [], "c"),
        (9, [NAN, None, 1.0], "c"),  # a null element is named before a NaN
        (10, [None, INF, 1.0], "c"),
    ]
    source = spark.createDataFrame(rows, SCHEMA)
    df = with_invalid_detail(source, "image_emb", 3)
    got = {r["id"]: r["_invalid_detail"] for r in df.collect()}
    for element in ("double", "decimal(10,2)"):  # float arrays skip a copy; others compact
        other = source.withColumn("image_emb", F.col("image_emb").cast(f"array<{element}>"))
        if element.startswith("decimal"):
            other = other.filter("id NOT IN (1, 2, 3, 9, 10)")  # no NaN or inf in decimals
        again = with_invalid_detail(other, "image_emb", 3).collect()
        assert {r["id"]: r["_invalid_detail"] for r in again} == {
            r["id"]: got[r["id"]] for r in again
        }, element
    assert got == {
        9: "embedding contains null values",
        10: "embedding contains null values",
        0: "embedding is null",
        1: "embedding contains NaN or infinite values",
        2: "embedding contains NaN or infinite values",
        3: "embedding contains NaN or infinite values",
        4: "embedding has zero norm",
        5: "embedding has 2 values, expected 3",
        6: "embedding contains null values",
        7: None,
        8: "embedding has 0 values, expected 3",
    }


def test_census_counts_what_invalid_detail_finds(spark: SparkSession) -> None:
    """One aggregation gives the rows, the dimension and the valid count that the per-row
    detail gives, for every length it might be asked about, with an embed error column."""
    rows = [
        (0, None, None),
        (1, [NAN, 1.0, 1.0], None),
        (2, [INF, 1.0, 1.0], None),
        (3, [1.0, 1.0, 1.0], "image could not be decoded"),
        (4, [0.0, 0.0, 0.0], None),
        (5, [1.0, 2.0], None),
        (6, [1.0, None, 1.0], None),
        (7, [0.0, -1.0, 0.0], None),
        (8, [], None),
        (9, [None, None, None], None),
        (10, [2.0, 2.0], None),
        (11, [3.0, 1.0, 2.0], None),
        (12, [NAN, None, 2.0], None),
    ]
    schema = T.StructType([*SCHEMA.fields[:2], T.StructField("error", T.StringType())])
    df = spark.createDataFrame(rows, schema)
    census = embedding_census(df, "image_emb", "error")
    assert census.total == len(rows) and census.rows == {-1: 1, 0: 1, 2: 2, 3: 9}
    assert census.dimension() == 3 == infer_dimension(df, "image_emb")
    for dim in (2, 3, 4):
        detail = with_invalid_detail(df, "image_emb", dim).filter(
            "_invalid_detail IS NULL AND error IS NULL"
        )
        assert census.valid(dim) == detail.count(), dim
    assert census.valid(3) == 2 and census.valid(None) == 0
    tie = embedding_census(df.filter("id IN (5, 10, 11, 7)"), "image_emb")
    assert tie.dimension() == 2  # two rows of length 2 and two of 3: the smaller length


def test_check_columns_errors_name_the_column(spark: SparkSession) -> None:
    df = spark.createDataFrame([(1, [1.0], "a")], SCHEMA)
    check_columns(df, "id", "image_emb")
    with pytest.raises(InputError, match="id column 'key' not found .* id, image_emb, caption"):
        check_columns(df, "key", "image_emb")
    with pytest.raises(InputError, match="embedding column 'caption' must be array<float>"):
        check_columns(df, "id", "caption")
    arr_id = df.selectExpr("array(id) AS id", "image_emb")
    with pytest.raises(InputError, match="id column 'id' must be a scalar, got array<bigint>"):
        check_columns(arr_id, "id", "image_emb")
    strings = df.selectExpr("id", "array(caption) AS image_emb")
    with pytest.raises(InputError, match="got array<string>"):
        check_columns(strings, "id", "image_emb")


def test_duplicate_and_null_ids(spark: SparkSession) -> None:
    schema = T.StructType([T.StructField("id", T.LongType(), True)])
    check_unique_ids(spark.createDataFrame([(1,), (2,)], schema), "id")
    dupes = spark.createDataFrame([(4,), (2,), (4,), (2,), (2,), (9,)], schema)
    with pytest.raises(InputError, match=r"duplicate ids, e.g. 2 \(x3\), 4 \(x2\); ids must"):
        check_unique_ids(dupes, "id")
    with pytest.raises(InputError, match="null ids"):
        check_unique_ids(spark.createDataFrame([(1,), (None,)], schema), "id")
    both = spark.createDataFrame([(3,), (3,), (None,), (None,)], schema)  # nulls named first
    with pytest.raises(InputError, match="contains null ids"):
        check_unique_ids(both, "id")
    many = spark.createDataFrame([(i,) for i in range(8) for _ in range(2)], schema)
    with pytest.raises(InputError, match=r"e.g. 0 \(x2\), 1 \(x2\), 2 \(x2\), 3 \(x2\), 4 \(x2\);"):
        check_unique_ids(many, "id")  # the five smallest, in order
    named_count = spark.createDataFrame([(7,), (7,)], "count long")  # the aggregate's own name
    with pytest.raises(InputError, match=r"id column 'count' has duplicate ids, e.g. 7 \(x2\)"):
        check_unique_ids(named_count, "count")


def test_infer_dimension_is_the_most_common_length(spark: SparkSession) -> None:
    rows = [(i, [1.0] * (3 if i < 2 else 2), "c") for i in range(5)] + [(9, None, "c")]
    assert infer_dimension(spark.createDataFrame(rows, SCHEMA), "image_emb") == 2
    ties = [(1, [1.0] * 4, "c"), (2, [1.0] * 3, "c")]
    assert infer_dimension(spark.createDataFrame(ties, SCHEMA), "image_emb") == 3
    assert infer_dimension(spark.createDataFrame([(1, None, "c")], SCHEMA), "image_emb") is None


def test_invalid_rows_are_recorded_not_lost(spark: SparkSession, tmp_path: Path) -> None:
    ids, x = embedding_rows(400, 8, 3, seed=2)
    rows: list = [list(v) for v in x]
    rows[0] = None
    rows[1] = [float("nan")] * 8
    rows[2] = [0.0] * 8
    rows[3] = [0.1] * 5
    rows[4] = [float("inf")] + [0.0] * 7
    path = write_input(spark, tmp_path / "in", ids, rows)
    cfg = make_config(path, str(tmp_path / "out"), dbp={"kmeans": {"k": 3, "iterations": 10}})
    result = run(spark, cfg)
    dec = decisions(spark, str(tmp_path / "out"))
    assert len(dec) == 400
    invalid = dec[dec["reason"] == "invalid"].set_index("id")["detail"].to_dict()
    assert invalid == {
        0: "embedding is null",
        1: "embedding contains NaN or infinite values",
        2: "embedding has zero norm",
        3: "embedding has 5 values, expected 8",
        4: "embedding contains NaN or infinite values",
    }
    counts = result.counts
    assert counts == {
        "input": 400,
        "kept": 198,
        "invalid": 5,
        "semdedup": 0,
        "clip_score": 0,
        "dbp": 197,
    }
    assert dec.loc[dec["reason"] == "invalid", "cluster_id"].isna().all()
