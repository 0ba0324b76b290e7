"""The distributed top-N threshold search against a plain numpy reference (ties by id)."""

from __future__ import annotations

import numpy as np
import pytest
from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F
from pyspark.sql import types as T

from spark_prune import topn


def reference_first_n(score: np.ndarray, ids: np.ndarray, n: int, descending: bool) -> set:
    """The first n ids ordered by score (NaN above every number, as in Spark), then id."""
    nan = np.isnan(score)
    value = np.where(nan, 0.0, score) + 0.0  # -0.0 sorts equal to 0.0
    if descending:
        order = np.lexsort((ids, -value, -nan.astype(int)))
    else:
        order = np.lexsort((ids, value, nan.astype(int)))
    return set(ids[order[: max(n, 0)]].tolist())


def tied_scores(n: int, seed: int) -> np.ndarray:
    """Few distinct values (heavy ties), both signed zeros and some NaN."""
    rng = np.random.default_rng(seed)
    score = rng.choice([-1.5, -0.0, 0.0, 0.25, 0.5, 0.75, np.nan], size=n)
    score[: n // 10] = rng.normal(size=n // 10)  # and some distinct values
    return score


def frame(spark: SparkSession, ids: list, score: np.ndarray, id_type: T.DataType) -> DataFrame:
    schema = T.StructType(
        [T.StructField("id", id_type, False), T.StructField("score", T.DoubleType(), False)]
    )
    return spark.createDataFrame([(i, float(s)) for i, s in zip(ids, score, strict=True)], schema)


PARTITIONINGS = [lambda df: df.coalesce(1), lambda df: df.repartition(7)]


def test_first_n_matches_numpy_with_ties_and_any_partitioning(spark: SparkSession) -> None:
    n_rows = 400
    score = tied_scores(n_rows, seed=3)
    ids = np.random.default_rng(4).permutation(n_rows).astype(np.int64) * 3 - 500
    base = frame(spark, ids.tolist(), score, T.LongType())
    for descending, split, n in [
        (True, PARTITIONINGS[0], 37),
        (True, PARTITIONINGS[1], 37),
        (True, PARTITIONINGS[1], 200),
        (False, PARTITIONINGS[0], 399),
        (False, PARTITIONINGS[1], 1),
        (False, PARTITIONINGS[1], 0),
    ]:
        df = split(base)
        spec = [("score", not descending), ("id", True)]
        # a small sample and bracket: at least one narrowing round before the exact pick
        key = topn.nth_key(df, spec, n, n_rows, seed=n, sample_rows=100, bracket_rows=250)
        flag = topn.at_or_before(topn.key_parts(df, spec), key) if key else F.lit(False)
        got = {r["id"] for r in df.filter(flag).select("id").collect()}
        assert got == reference_first_n(score, ids, n, descending), (n, descending)


def test_first_n_with_string_ids_and_default_sizes(spark: SparkSession) -> None:
    n_rows = 300
    score = tied_scores(n_rows, seed=5)
    ids = np.array([f"row-{i:04d}" for i in np.random.default_rng(6).permutation(n_rows)])
    df = frame(spark, ids.tolist(), score, T.StringType()).repartition(5)
    spec = [("score", False), ("id", True)]
    for n in (150, 300):
        got = {r["id"] for r in df.filter(topn.top_n_flag(df, spec, n, n_rows)).collect()}
        assert got == reference_first_n(score, ids, n, descending=True)


def test_driver_side_sort_follows_spark_order(spark: SparkSession) -> None:
    score = np.array([np.nan, 1.0, -0.0, 0.0, -np.inf, np.inf, np.nan, 0.5])
    ids = np.arange(len(score), dtype=np.int64)[::-1].copy()
    df = frame(spark, ids.tolist(), score, T.LongType())
    spec = [("score", False), ("id", True)]
    keys = df.select("score", "id")
    spark_order = [r["id"] for r in keys.orderBy(F.desc("score"), "id").collect()]
    mine = topn.sort_tuples([tuple(r) for r in keys.collect()], topn.key_parts(keys, spec))
    assert [t[1] for t in mine] == spark_order


def test_bracket_mismatch_is_reported(spark: SparkSession) -> None:
    df = frame(spark, list(range(50)), np.zeros(50), T.LongType())
    with pytest.raises(RuntimeError, match="bracket should hold 60 rows, found 50"):
        topn.nth_key(df, [("score", True), ("id", True)], 10, 60)
