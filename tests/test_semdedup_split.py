"""Big SemDeDup clusters split across tasks: the core merge rule and the Spark path give the
unsplit kernel's answer exactly, ties and exact duplicates included."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from pyspark.sql import SparkSession

from spark_prune.config import SemDedupConfig, SemDedupKMeansConfig
from spark_prune.core.semdedup_kernel import max_similarity_to_columns, max_similarity_to_earlier
from spark_prune.core.semdedup_split import (
    merge_partials,
    row_block_rows,
    split_max_similarity,
    task_blocks,
    task_id,
    tasks_of_block,
)
from spark_prune.core.vectors import l2_normalize
from spark_prune.semdedup import semdedup
from spark_prune.semdedup_split import big_clusters


def dup_heavy(seed: int, n: int, d: int) -> np.ndarray:
    """Random rows with runs of exact copies and near ties: many equal stored similarities."""
    rng = np.random.default_rng(seed)
    x = l2_normalize(rng.standard_normal((n, d)).astype(np.float32))
    x[n // 3 : n // 2] = x[2]  # a long run of identical rows: each ties with all before it
    x[n - 40 : n - 20] = x[5]
    x[n - 20 :] = l2_normalize(x[7] + 1e-6 * rng.standard_normal((20, d)).astype(np.float32))
    x[n // 2 : n // 2 + 30 : 3] = x[n // 2 - 1]
    return x


def test_task_numbering() -> None:
    seen = [task_blocks(t) for t in range(task_id(5, 5) + 1)]
    assert seen == [(r, c) for r in range(6) for c in range(r + 1)]
    assert tasks_of_block(1, 4) == [task_id(1, 0), task_id(1, 1), task_id(2, 1), task_id(3, 1)]
    assert sum(len(tasks_of_block(b, 4)) for b in range(4)) == 4 * 4  # P copies of each block
    assert row_block_rows(50, 16) == 64 and row_block_rows(64, 16) == 64


def test_merge_prefers_max_then_earliest_partner() -> None:
    row = np.array([3, 3, 3, 1, 1, 0])
    sim = np.array([0.5, 0.9, 0.9, -np.inf, 0.2, -np.inf])
    partner = np.array([0, 7, 4, -1, 0, -1])
    winner = merge_partials(row, sim, partner)
    assert row[winner].tolist() == [0, 1, 3]
    assert partner[winner].tolist() == [-1, 0, 4]  # 0.9 twice: the earlier partner (4) wins
    assert merge_partials(row[:0], sim[:0], partner[:0]).size == 0


def test_rectangle_matches_the_triangle() -> None:
    x = dup_heavy(3, 200, 10)
    best, partner = max_similarity_to_earlier(x, 16)
    # rows 128.. against columns 0..127 only: the triangle's maximum where it lies there
    sim, arg = max_similarity_to_columns(x, 128, 16)
    full = (x[128:].astype(np.float64) @ x[:128].astype(np.float64).T).astype(np.float32)
    np.testing.assert_array_equal(sim, full.max(axis=1))
    np.testing.assert_array_equal(arg, full.argmax(axis=1))  # the first maximum
    inside = partner[128:] < 128
    np.testing.assert_array_equal(
        arg[inside & (sim == best[128:])], partner[128:][inside & (sim == best[128:])]
    )
    empty = max_similarity_to_columns(x[:5], 0, 16)
    assert empty[0].tolist() == [-np.inf] * 5 and empty[1].tolist() == [-1] * 5


@pytest.mark.parametrize("block_rows", [16, 48, 96, 1000])
def test_split_equals_unsplit(block_rows: int) -> None:
    x = dup_heavy(block_rows, 300, 12)
    best, partner = max_similarity_to_earlier(x, 16)
    split_best, split_partner = split_max_similarity(x, block_rows, 16)
    np.testing.assert_array_equal(split_best, best)
    np.testing.assert_array_equal(split_partner, partner)
    assert (partner[100:150] == 2).all()  # ties resolved to the earliest copy in every task


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
