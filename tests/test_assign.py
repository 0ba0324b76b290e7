"""Nearest-centroid assignment on Spark (assign.py) against the numpy core, row for row."""

from __future__ import annotations

import numpy as np
import pyarrow as pa
from pyspark.sql import SparkSession

from spark_prune.assign import assign_clusters
from spark_prune.core.assign import nearest_centroids
from spark_prune.core.vectors import binary_to_matrix, l2_normalize
from tests.helpers import SCHEMA


def test_matches_numpy_core_and_passes_columns_on(spark: SparkSession) -> None:
    rng = np.random.default_rng(5)
    x = rng.standard_normal((30, 4)).astype(np.float32)
    centroids = l2_normalize(rng.standard_normal((3, 4)).astype(np.float32))
    x[7] = 2 * centroids[1]  # exactly on a centroid: distance ~0
    rows = [(i, [float(v) for v in x[i]], f"c{i}") for i in range(30)]
    df = spark.createDataFrame(rows, SCHEMA).repartition(3)
    out = assign_clusters(
        df, centroids, "id", "image_emb", 4, passthrough=["caption"], embedding_bytes_col="raw"
    )
    assert out.columns == ["id", "caption", "raw", "cluster_id", "dist"]
    got = out.orderBy("id").toArrow()
    cluster, dist = nearest_centroids(l2_normalize(x), centroids)
    np.testing.assert_array_equal(got.column("cluster_id").to_numpy(), cluster)
    np.testing.assert_array_equal(got.column("dist").to_numpy(), dist)
    assert got.column("cluster_id")[7].as_py() == 1 and abs(got.column("dist")[7].as_py()) < 1e-6
    np.testing.assert_array_equal(binary_to_matrix(got.column("raw"), 4), x)
    assert got.column("caption").to_pylist() == [f"c{i}" for i in range(30)]
    assert got.schema.field("raw").type in (pa.binary(), pa.large_binary())


def test_ties_go_to_the_lowest_cluster_id(spark: SparkSession) -> None:
    centroids = np.array([[0.0, 1.0], [1.0, 0.0], [0.0, 1.0]], dtype=np.float32)
    df = spark.createDataFrame([(1, [0.0, 3.0], "a"), (2, [1.0, 1.0], "b")], SCHEMA)
    got = {
        r["id"]: r["cluster_id"]
        for r in assign_clusters(df, centroids, "id", "image_emb", 2).collect()
    }
    assert got == {1: 0, 2: 0}
