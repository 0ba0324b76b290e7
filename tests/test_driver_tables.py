"""k-row tables made on the driver go to Spark as Arrow: the same rows as Python tuples gave."""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pytest
from pyspark.sql import SparkSession
from pyspark.sql import types as T

from spark_prune.driver_tables import driver_frame

SCHEMA = T.StructType(
    [
        T.StructField("cluster_id", T.IntegerType(), False),
        T.StructField("centroid", T.ArrayType(T.FloatType(), False), False),
        T.StructField("size", T.LongType(), False),
        T.StructField("share", T.DoubleType(), True),
        T.StructField("capped", T.BooleanType(), False),
    ]
)


def test_rows_equal_those_built_from_python_tuples(spark: SparkSession) -> None:
    rng = np.random.default_rng(3)
    matrix = rng.standard_normal((4, 7)).astype(np.float32)
    share = np.array([0.5, np.nan, 0.25, 1e-300])
    columns = {
        "cluster_id": np.array([0, 2, 5, 9], np.int32),
        "centroid": matrix,
        "size": np.array([10, 0, 3, 2**40], np.int64),
        "share": pa.array(share, mask=np.isnan(share)),
        "capped": np.array([True, False, False, True]),
    }
    built = driver_frame(spark, columns, SCHEMA)
    tuples = [
        (0, matrix[0].tolist(), 10, 0.5, True),
        (2, matrix[1].tolist(), 0, None, False),
        (5, matrix[2].tolist(), 3, 0.25, False),
        (9, matrix[3].tolist(), 2**40, 1e-300, True),
    ]
    expected = spark.createDataFrame(tuples, SCHEMA)
    assert built.schema == SCHEMA
    assert built.orderBy("cluster_id").collect() == expected.orderBy("cluster_id").collect()


@pytest.mark.parametrize("no_rows", [np.zeros((0, 7), np.float32), np.array([], np.float32)])
def test_no_rows_keeps_the_schema(spark: SparkSession, no_rows: np.ndarray) -> None:
    """No cluster at all (every row removed before DBP): a (0, d) matrix or an empty list."""
    columns = {
        "cluster_id": np.zeros(0, np.int32),
        "centroid": no_rows,
        "size": np.zeros(0, np.int64),
        "share": np.zeros(0),
        "capped": np.zeros(0, bool),
    }
    frame = driver_frame(spark, columns, SCHEMA)
    assert frame.schema == SCHEMA and frame.count() == 0


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"size": None}, r"no values for column\(s\) \['size'\]"),
        ({"size": np.arange(3)}, r"different lengths \[3, 4\]"),
        ({"centroid": np.zeros(4, np.float32)}, "'centroid' needs a 2-d matrix, got 1-d"),
    ],
)
def test_mismatched_columns_are_named(
    spark: SparkSession, change: dict[str, object], message: str
) -> None:
    columns: dict[str, object] = {
        "cluster_id": np.arange(4, dtype=np.int32),
        "centroid": np.zeros((4, 2), np.float32),
        "size": np.arange(4),
        "share": np.zeros(4),
        "capped": np.zeros(4, bool),
    }
    columns.update(change)
    columns = {name: value for name, value in columns.items() if value is not None}
    with pytest.raises(ValueError, match=message):
        driver_frame(spark, columns, SCHEMA)
