"""The embeddings cache's appends are idempotent (Delta txnAppId/txnVersion): a retried step
never duplicates rows. No model needed: the append itself is what a retry repeats."""

from __future__ import annotations

from pathlib import Path

from pyspark.sql import SparkSession

from spark_prune.embed.stage import append_once, append_transaction
from spark_prune.lake import DeltaLocation


def test_a_repeated_append_is_skipped(spark: SparkSession, tmp_path: Path) -> None:
    cache = DeltaLocation(str(tmp_path / "embeddings"))
    rows = spark.createDataFrame([(i, "k") for i in range(5)], "id long, embed_key string")
    more = spark.createDataFrame([(i, "k") for i in range(5, 8)], "id long, embed_key string")
    meta = {"spark_prune": "embed"}

    first = append_transaction("k", "/lake/t@3", None)  # a new cache
    assert append_once(spark, cache, rows, meta, first) == 5
    assert append_once(spark, cache, rows, meta, first) == 0  # the retried step: skipped
    assert cache.read(spark).count() == 5 and cache.latest_version(spark) == 0

    # the next real append computed its missing rows against version 0: a larger txnVersion
    second = append_transaction("k", "/lake/t@3", cache.latest_version(spark))
    assert second[0] == first[0] and second[1] > first[1]
    assert append_once(spark, cache, more, meta, second) == 3
    assert append_once(spark, cache, more, meta, second) == 0
    assert cache.read(spark).count() == 8

    # another input sharing the cache has its own app id: not mistaken for a retry
    other = append_transaction("k", "/lake/other@0", 0)
    assert other[0] != first[0]
    shifted = more.selectExpr("id + 100 AS id", "embed_key")
    assert append_once(spark, cache, shifted, meta, other) == 3
    assert cache.read(spark).count() == 11
    assert cache.read(spark, 0).count() == 5  # the snapshot a step computed against
