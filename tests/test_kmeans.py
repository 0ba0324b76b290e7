"""Spherical k-means (kmeans.py): a partition-independent sample and a deterministic fit."""

from __future__ import annotations

import numpy as np
import pytest
from pyspark.sql import SparkSession

from spark_prune.config import KMeansConfig
from spark_prune.kmeans import fit_kmeans, fit_spherical_kmeans, sample_embeddings, sample_size_for
from tests.helpers import SCHEMA, embedding_rows


@pytest.fixture(scope="module")
def rows() -> list:
    ids, x = embedding_rows(300, 6, 3, seed=9)
    return [(int(i), [float(v) for v in r], "c") for i, r in zip(ids, x, strict=True)]


def test_sample_size() -> None:
    assert sample_size_for(KMeansConfig(k=3, max_points_per_centroid=10), 1000) == 30
    assert sample_size_for(KMeansConfig(k=3, sample_size=50), 1000) == 50
    assert sample_size_for(KMeansConfig(k=3, sample_size=50), 20) == 20


def test_sample_does_not_depend_on_partitioning(spark: SparkSession, rows: list) -> None:
    df = spark.createDataFrame(rows, SCHEMA)
    one = sample_embeddings(df.coalesce(1), "id", "image_emb", 6, 40, 3, 300)
    many = sample_embeddings(df.repartition(5), "id", "image_emb", 6, 40, 3, 300)
    assert one.shape == (40, 6) and one.dtype == np.float32
    np.testing.assert_array_equal(one, many)
    other_seed = sample_embeddings(df, "id", "image_emb", 6, 40, 4, 300)
    assert not np.array_equal(one, other_seed)
    everything = sample_embeddings(df, "id", "image_emb", 6, 400, 3, 300)
    assert everything.shape == (300, 6)


def test_fit_is_deterministic_and_unit_norm(spark: SparkSession, rows: list) -> None:
    cfg = KMeansConfig(k=3, iterations=10, seed=1)
    df = spark.createDataFrame(rows, SCHEMA)
    a = fit_kmeans(df, "id", "image_emb", 6, 300, cfg)
    b = fit_kmeans(df.repartition(4), "id", "image_emb", 6, 300, cfg)
    np.testing.assert_array_equal(a.centroids, b.centroids)
    np.testing.assert_allclose(np.linalg.norm(a.centroids, axis=1), 1.0, rtol=1e-5)
    assert a.describe()["k"] == 3 and a.sample_rows == 300


def test_fewer_rows_than_k_and_no_rows(spark: SparkSession) -> None:
    small = np.eye(4, dtype=np.float32)[:2]
    assert fit_spherical_kmeans(small, KMeansConfig(k=5, iterations=2)).centroids.shape == (2, 4)
    empty = spark.createDataFrame([], SCHEMA)
    with pytest.raises(ValueError, match="k-means: no valid embeddings"):
        fit_kmeans(empty, "id", "image_emb", 4, 0, KMeansConfig(k=2))
