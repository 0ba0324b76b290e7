"""Big SemDeDup clusters split across tasks (semdedup_split.py): which clusters are split, and
the Spark path gives the unsplit decisions exactly, ties and exact duplicates included."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from pyspark.sql import SparkSession

from spark_prune.config import SemDedupConfig, SemDedupKMeansConfig
from spark_prune.core.vectors import l2_normalize
from spark_prune.semdedup import semdedup
from spark_prune.semdedup_split import big_clusters
from tests.helpers import dup_heavy


def test_big_clusters_from_estimates() -> None:
    assert big_clusters(np.array([10.0, 400.0, 50.5]), 50) == [1, 2]
    assert big_clusters(np.array([10.0, 400.0]), 0) == []


# ---------------------------------------------------------------- the Spark stage


def frame(spark: SparkSession, x: np.ndarray, partitions: int) -> object:
    rows = [(int(i) * 3 + 1, [float(v) for v in vec]) for i, vec in enumerate(x)]
    df = spark.createDataFrame(rows, "id long, image_emb array<float>")
    return df.repartition(partitions)


@pytest.mark.parametrize("order", ["hard", "random"])
def test_spark_split_decisions_identical(spark: SparkSession, order: str) -> None:
    rng = np.random.default_rng(11)
    big = dup_heavy(4, 260, 8) + np.float32(3.0) * np.eye(8, dtype=np.float32)[0]
    small = l2_normalize(rng.standard_normal((40, 8)).astype(np.float32)) - 3 * np.eye(8)[0]
    x = l2_normalize(np.concatenate([big, small.astype(np.float32)]))
    base = SemDedupConfig(
        enabled=True,
        eps=0.05,
        order=order,
        block_size=16,
        kmeans=SemDedupKMeansConfig(k=2, iterations=10),
    )
    results = []
    runs = ((0, 3), (40, 2), (100, 5)) if order == "hard" else ((0, 3), (40, 2))
    for split_rows, partitions in runs:
        cfg = SemDedupConfig(**{**base.__dict__, "split_rows": split_rows})
        result, info = semdedup(frame(spark, x, partitions), cfg, "id", "image_emb", 8, 300)
        results.append((result.orderBy("id").toPandas(), info))
        result.unpersist()
    first, info0 = results[0]
    assert info0["split_clusters"] == [] and len(first) == 300
    for other, info in results[1:]:
        assert len(info["split_clusters"]) >= 1
        pd.testing.assert_frame_equal(other, first)
    sizes = first.groupby("semdedup_cluster_id").size()
    assert sizes.max() >= 250  # the big cluster really was split into several row blocks
    assert (first["semdedup_max_sim"] >= 0.9999).sum() >= 80  # many exact ties were decided
