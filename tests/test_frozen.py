"""Frozen centroids: an earlier run's centroids instead of a k-means fit (the runs that use
them are compared in test_incremental.py)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from pyspark.sql import SparkSession

from spark_prune import contract
from spark_prune.config import ConfigError
from spark_prune.core.vectors import l2_normalize
from spark_prune.frozen import FrozenCentroids, centroids_frame, load_centroids


def test_dense_matrix_and_expected_sizes_follow_the_cluster_ids() -> None:
    vectors = np.eye(3, dtype=np.float32)[[0, 2]]
    frozen = FrozenCentroids(np.array([0, 2], np.int32), vectors, np.array([10, 30]), 3, {})
    dense = frozen.dense()
    assert dense.shape == (3, 3) and np.isnan(dense[1]).all()
    assert np.array_equal(dense[[0, 2]], vectors)
    assert frozen.expected_sizes(8).tolist() == [2.0, 0.0, 6.0]
    assert frozen.describe()["method"] == "frozen" and frozen.describe()["k"] == 3


def stored_run(spark: SparkSession, root: Path, vectors: np.ndarray, ids: list[int]) -> str:
    """A finished run as far as frozen centroids care: its manifest and a clusters table."""
    sizes = {c: 10 * (c + 1) for c in ids}
    table = centroids_frame(spark, np.array(ids), vectors, sizes)
    table.write.format("delta").save(str(root / contract.CLUSTERS))
    manifest = {"run_id": "r0", "kmeans": {"dbp": {"k": 4}},
                "outputs": {contract.CLUSTERS: {"location": str(root / contract.CLUSTERS),
                                                "delta_version": 0}}}  # fmt: skip
    (root / contract.MANIFEST_FILE).write_text(json.dumps(manifest))
    return str(root)


def test_loads_the_stored_centroids_with_their_ids_and_source(
    spark: SparkSession, tmp_path: Path
) -> None:
    vectors = l2_normalize(np.random.default_rng(0).standard_normal((3, 5)).astype(np.float32))
    where = stored_run(spark, tmp_path, vectors, [0, 1, 3])  # cluster 2 was empty
    frozen = load_centroids(spark, where, "dbp", "dbp.kmeans.centroids_from", 5, 4)
    assert frozen.ids.tolist() == [0, 1, 3] and frozen.k == 4
    assert np.array_equal(frozen.vectors, vectors) and frozen.sizes.tolist() == [10, 20, 40]
    assert frozen.describe()["centroids_run_id"] == "r0"
    assert frozen.describe()["centroids_delta_version"] == 0
    key = "dbp.kmeans.centroids_from"
    with pytest.raises(ConfigError, match=r"^dbp.kmeans.centroids_from: .*5-dimensional.* 6 "):
        load_centroids(spark, where, "dbp", key, 6, None)
    with pytest.raises(ConfigError, match=r"set dbp.kmeans.k=4$"):
        load_centroids(spark, where, "dbp", key, 5, 7)
    with pytest.raises(ConfigError, match=r"^semdedup.kmeans.centroids_from: .*no semdedup_clus"):
        load_centroids(spark, where, "semdedup", "semdedup.kmeans.centroids_from", 5, None)
    # named by its key, not by the --run flag the user never gave
    with pytest.raises(ConfigError, match=r"^dbp.kmeans.centroids_from: run '.*' does not exist"):
        load_centroids(spark, where + "-nowhere", "dbp", key, 5, None)
