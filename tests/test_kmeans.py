"""The k-means sample: the smallest seeded id hashes, whatever the partitioning or row estimate."""

from __future__ import annotations

import numpy as np
import pytest
from pyspark.sql import SparkSession
from pyspark.sql import functions as F
from pyspark.sql import types as T

from spark_prune.kmeans import prefilter_fraction, sample_embeddings
from spark_prune.order_columns import hash_key

N, DIM, SIZE, SEED = 300, 4, 40, 99


@pytest.fixture(scope="module")
def table(spark: SparkSession):  # type: ignore[no-untyped-def]
    rng = np.random.default_rng(1)
    x = rng.standard_normal((N, DIM)).astype(np.float32)
    ids = rng.permutation(N).astype(np.int64) * 7
    schema = T.StructType(
        [T.StructField("id", T.LongType()), T.StructField("e", T.ArrayType(T.FloatType()))]
    )
    df = spark.createDataFrame([(int(i), v.tolist()) for i, v in zip(ids, x, strict=True)], schema)
    return df, reference_sample(df, dict(zip(ids.tolist(), x, strict=True)))


def reference_sample(spark_df, by_id: dict) -> np.ndarray:  # type: ignore[no-untyped-def]
    """Plain numpy: every row's (hash, id) from Spark, lexsorted, the first SIZE embeddings."""
    keys = spark_df.select(hash_key("id", SEED).alias("h"), F.col("id")).toPandas()
    order = np.lexsort((keys["id"].to_numpy(), keys["h"].to_numpy()))[:SIZE]
    return np.stack([by_id[i] for i in keys["id"].to_numpy()[order]])


@pytest.mark.parametrize(("estimate", "partitions"), [(N, 1), (10 * N, 5), (N // 20, 3)])
def test_sample_is_the_smallest_hashes_in_hash_order(table, estimate: int, partitions: int) -> None:  # type: ignore[no-untyped-def]
    """Right, too high (prefilter widened from the count seen) and too low row estimates."""
    df, expected = table
    got = sample_embeddings(df.repartition(partitions), "id", "e", DIM, SIZE, SEED, estimate)
    np.testing.assert_array_equal(got, expected)


def test_prefilter_keeps_a_little_more_than_the_sample() -> None:
    assert prefilter_fraction(128_000, 1_000_000) == pytest.approx(0.1555, abs=1e-4)
    assert prefilter_fraction(10, 5) == 1.0
