"""k-means (kmeans.py): the sample is the smallest seeded id hashes, whatever the partitioning or
row estimate; the fit is deterministic."""

from __future__ import annotations

import numpy as np
import pytest
from pyspark.sql import SparkSession
from pyspark.sql import functions as F
from pyspark.sql import types as T

from spark_prune.config import KMeansConfig
from spark_prune.kmeans import (
    fit_kmeans_on_sample,
    fit_spherical_kmeans,
    prefilter_fraction,
    sample_embeddings,
    sample_size_for,
)
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


def test_sample_size() -> None:
    assert sample_size_for(KMeansConfig(k=3, max_points_per_centroid=10), 1000) == 30
    assert sample_size_for(KMeansConfig(k=3, sample_size=50), 1000) == 50
    assert sample_size_for(KMeansConfig(k=3, sample_size=50), 20) == 20


def test_fit_is_deterministic_and_unit_norm(table) -> None:  # type: ignore[no-untyped-def]
    df, _ = table
    cfg = KMeansConfig(k=3, iterations=10, seed=1)
    a, sample = fit_kmeans_on_sample(df, "id", "e", DIM, N, cfg)
    b, _ = fit_kmeans_on_sample(df.repartition(4), "id", "e", DIM, N, cfg)
    np.testing.assert_array_equal(a.centroids, b.centroids)
    np.testing.assert_allclose(np.linalg.norm(a.centroids, axis=1), 1.0, rtol=1e-5)
    assert a.describe()["k"] == 3 and a.sample_rows == len(sample) == N


def test_fewer_rows_than_k_and_no_rows(spark: SparkSession) -> None:
    small = np.eye(4, dtype=np.float32)[:2]
    assert fit_spherical_kmeans(small, KMeansConfig(k=5, iterations=2)).centroids.shape == (2, 4)
    schema = "id long, e array<float>"
    with pytest.raises(ValueError, match="k-means: no valid embeddings"):
        fit_kmeans_on_sample(spark.createDataFrame([], schema), "id", "e", 4, 0, KMeansConfig(k=2))
