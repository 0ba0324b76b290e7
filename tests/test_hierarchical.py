"""Hierarchical k-means (hierarchical.py, Vo et al. 2024): the hierarchy's parents, and the
strategy through ``run`` (the numpy quotas are tested in test_core_hierarchical.py)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from pyspark.sql import SparkSession

from spark_prune.config import HierarchyConfig
from spark_prune.core.assign import nearest_centroids
from spark_prune.hierarchical import fit_hierarchy
from spark_prune.pipeline import run
from tests import reference
from tests.helpers import embedding_rows, make_config, write_input


def test_hierarchy_parents_are_nearest_upper_centroids() -> None:
    rng = np.random.default_rng(3)
    leaves = rng.standard_normal((40, 8)).astype(np.float32)
    leaves /= np.linalg.norm(leaves, axis=1, keepdims=True)
    h = fit_hierarchy(leaves, HierarchyConfig(k=(6, 2), iterations=10), seed=1)
    assert [c.shape[0] for c in h.centroids] == [6, 2]
    for below, parent, upper in zip([leaves, h.centroids[0]], h.parents, h.centroids, strict=True):
        sims = below.astype(np.float64) @ upper.astype(np.float64).T
        np.testing.assert_array_equal(parent, sims.argmax(axis=1))
    again = fit_hierarchy(leaves, HierarchyConfig(k=(6, 2), iterations=10), seed=1)
    np.testing.assert_array_equal(again.parents[0], h.parents[0])


def test_hierarchical_strategy_through_run(spark: SparkSession, tmp_path: Path) -> None:
    ids, x = embedding_rows(600, 12, 4, seed=5)
    source = write_input(spark, tmp_path / "in", ids, x)
    cfg = make_config(
        source,
        str(tmp_path / "out"),
        dbp={
            "strategy": "hierarchical",
            "keep_fraction": 0.3,
            "kmeans": {"k": 8, "iterations": 10},
            "hierarchy": {"k": [3], "iterations": 10},
        },
    )
    result = run(spark, cfg)
    assert result.manifest["dbp"]["hierarchy"]["levels"] == 2
    cl = spark.read.format("delta").load(f"{tmp_path}/out/clusters").orderBy("cluster_id")
    frame = cl.toPandas()
    centroids = np.array(frame["centroid"].tolist(), dtype=np.float32)
    h = fit_hierarchy(centroids, cfg.dbp.hierarchy, cfg.dbp.kmeans.seed)
    sizes = frame["size"].to_numpy()
    expected = reference.hierarchical_quotas(sizes, h.parents, 180)
    np.testing.assert_array_equal(frame["quota"].to_numpy(), expected)
    np.testing.assert_array_equal(frame["kept"].to_numpy(), expected)
    dec = spark.read.format("delta").load(f"{tmp_path}/out/decisions").toPandas()
    for cid, quota in zip(frame["cluster_id"], expected, strict=True):
        rows = dec[dec["cluster_id"] == cid].sort_values(["dist", "id"], ascending=[False, True])
        assert rows["kept"].tolist() == [True] * quota + [False] * (len(rows) - quota)
    cluster, _ = nearest_centroids(centroids, h.centroids[0])
    assert len(set(cluster.tolist())) >= 2  # a real hierarchy, not one node
