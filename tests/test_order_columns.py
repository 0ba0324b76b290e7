"""Sort keys as Spark columns (order_columns.py): the seeded hash and the keep orders."""

from __future__ import annotations

from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F

from spark_prune.order_columns import hash_key, order_key


def hashes(df: DataFrame, seed: int) -> dict[int, int]:
    return {
        int(r["key"]): r["h"] for r in df.select("key", hash_key("key", seed).alias("h")).collect()
    }


def test_hash_key_is_seeded_and_partition_independent(spark: SparkSession) -> None:
    df = spark.range(50).withColumnRenamed("id", "key")
    one = hashes(df.coalesce(1), 7)
    assert hashes(df.repartition(5), 7) == one
    assert hashes(df, 8) != one
    as_string = df.select(F.col("key").cast("string").alias("key"))
    assert hashes(as_string, 7) == one  # the key hashes the id's string form, whatever its type


def test_keep_orders_break_ties_by_id(spark: SparkSession) -> None:
    rows = [(4, 0.5), (1, 0.5), (3, 0.9), (2, 0.1)]
    df = spark.createDataFrame(rows, "id long, dist double").repartition(2)
    hard = [r["id"] for r in df.orderBy(*order_key("hard", "id", 0)).collect()]
    easy = [r["id"] for r in df.orderBy(*order_key("easy", "id", 0)).collect()]
    assert hard == [3, 1, 4, 2] and easy == [2, 1, 4, 3]
    keyed = df.withColumn("h", hash_key("id", 5)).orderBy("h", "id").collect()
    rnd = [r["id"] for r in df.orderBy(*order_key("random", "id", 5)).collect()]
    assert rnd == [r["id"] for r in keyed]
