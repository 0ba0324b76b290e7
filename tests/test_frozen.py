"""Frozen centroids: an earlier run's centroids instead of a k-means fit."""

from __future__ import annotations

import numpy as np
import pytest
from pyspark.sql import SparkSession

from spark_prune.config import ConfigError
from spark_prune.frozen import FrozenCentroids, load_centroids
from tests.incremental_fixture import BLOBS, DIM, Scenario


def test_dense_matrix_and_expected_sizes_follow_the_cluster_ids() -> None:
    vectors = np.eye(3, dtype=np.float32)[[0, 2]]
    frozen = FrozenCentroids(np.array([0, 2], np.int32), vectors, np.array([10, 30]), 3, {})
    dense = frozen.dense()
    assert dense.shape == (3, 3) and np.isnan(dense[1]).all()
    assert np.array_equal(dense[[0, 2]], vectors)
    assert frozen.expected_sizes(8).tolist() == [2.0, 0.0, 6.0]
    assert frozen.describe()["method"] == "frozen" and frozen.describe()["k"] == 3


def test_a_frozen_run_uses_and_records_the_earlier_centroids(
    incremental_scenario: Scenario,
) -> None:
    s = incremental_scenario
    a, full = s.a, s.full_v1
    for section in (full.manifest["kmeans"]["dbp"], full.manifest["semdedup"]["kmeans"]):
        assert section["method"] == "frozen" and section["centroids_from"] == s.path(a)
        assert section["centroids_run_id"] == a.run_id and section["k"] == BLOBS
    stored = s.table(a, "semdedup_clusters")
    assert stored["cluster_id"].tolist() == list(range(BLOBS))
    assert stored["size"].sum() == a.manifest["semdedup"]["rows"]
    again = s.table(full, "semdedup_clusters")
    assert np.array_equal(np.stack(again["centroid"]), np.stack(stored["centroid"]))
    before, after = s.table(a, "clusters"), s.table(full, "clusters")
    common = before.merge(after, on="cluster_id")
    assert len(common) == len(before)
    assert all(
        np.array_equal(x, y)
        for x, y in zip(common["centroid_x"], common["centroid_y"], strict=True)
    )


def test_mismatches_are_one_line_errors_naming_the_key(
    spark: SparkSession, incremental_scenario: Scenario
) -> None:
    where = incremental_scenario.path(incremental_scenario.a)
    key = "dbp.kmeans.centroids_from"
    with pytest.raises(ConfigError, match=r"^dbp.kmeans.centroids_from: .*8-dimensional.* 5 "):
        load_centroids(spark, where, "dbp", key, 5, None)
    with pytest.raises(ConfigError, match=r"set dbp.kmeans.k=6$"):
        load_centroids(spark, where, "dbp", key, DIM, 7)
    with pytest.raises(ConfigError, match=r"^semdedup.kmeans.centroids_from: .*does not exist"):
        load_centroids(spark, where + "-nowhere", "semdedup", "semdedup.kmeans.centroids_from",
                       DIM, None)  # fmt: skip
    assert "\n" not in str(ConfigError(f"{key}: x"))
