"""Distributed spherical Lloyd on Spark: a plain numpy Lloyd reference, partition-independence
bit for bit."""

from __future__ import annotations

import numpy as np
import pytest
from pyspark.sql import SparkSession

from spark_prune.clustering import fit_kmeans_sized
from spark_prune.config import KMeansConfig
from spark_prune.core.vectors import l2_normalize
from spark_prune.order_columns import hash_key
from tests.helpers import embedding_rows


def numpy_lloyd(x: np.ndarray, init: np.ndarray, iterations: int) -> np.ndarray:
    """Textbook spherical Lloyd in float64; an empty cluster keeps its centroid."""
    c = init.astype(np.float64)
    for _ in range(iterations):
        label = (x.astype(np.float64) @ c.T).argmax(axis=1)
        for j in range(len(c)):
            total = x[label == j].astype(np.float64).sum(axis=0)
            if np.linalg.norm(total) > 0:
                c[j] = total / np.linalg.norm(total)
    return c


def test_distributed_matches_numpy_and_ignores_partitioning(spark: SparkSession) -> None:
    ids, x = embedding_rows(240, 6, 5, seed=3)
    rows = [(int(i), [float(v) for v in vec]) for i, vec in zip(ids, x, strict=True)]
    df = spark.createDataFrame(rows, "id long, image_emb array<float>")
    cfg = KMeansConfig(k=5, iterations=25, sample_size=10_000, method="distributed")
    fits = [fit_kmeans_sized(df.repartition(p), "id", "image_emb", 6, 240, cfg) for p in (1, 4)]
    (km, sizes), (other, _) = fits
    np.testing.assert_array_equal(other.centroids, km.centroids)  # bit for bit
    assert km.method == "distributed" and km.describe()["method"] == "distributed"
    assert km.sample_rows == 240 and sizes.sum() == pytest.approx(240)
    assert km.iterations < 25  # stopped when the centroids no longer changed
    keys = {r["id"]: r["h"] for r in df.select("id", hash_key("id", 1234).alias("h")).collect()}
    first = sorted(range(240), key=lambda i: (keys[int(ids[i])], int(ids[i])))[:5]
    unit = l2_normalize(np.asarray(x, dtype=np.float32))
    expected = numpy_lloyd(unit, unit[first], km.iterations)
    np.testing.assert_allclose(km.centroids, expected, atol=1e-6)
    label = (unit @ km.centroids.T).argmax(axis=1)
    assert np.bincount(label, minlength=5).tolist() == sizes.round().astype(int).tolist()
