"""SemDeDup's rule against brute force, block-size independence, and the Spark stage."""

from __future__ import annotations

import numpy as np
import pytest
from pyspark.sql import SparkSession

from spark_prune.config import SemDedupConfig
from spark_prune.semdedup import (
    max_similarity_to_earlier,
    order_within_cluster,
    removed_mask,
    semdedup,
)
from spark_prune.vectors import l2_normalize
from tests.helpers import write_input


def brute_force(x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The reference rule with plain loops (first row: NaN, -1)."""
    n = len(x)
    best, partner = np.full(n, np.nan), np.full(n, -1)
    for j in range(1, n):
        sims = [
            float(np.float32(x[i].astype(np.float64) @ x[j].astype(np.float64))) for i in range(j)
        ]
        partner[j] = int(np.argmax(sims))
        best[j] = sims[partner[j]]
    return best, partner


def unit(rng: np.random.Generator, n: int, d: int) -> np.ndarray:
    return l2_normalize(rng.standard_normal((n, d)).astype(np.float32))


@pytest.mark.parametrize("seed", range(5))
def test_matches_brute_force_with_duplicates_and_ties(seed: int) -> None:
    rng = np.random.default_rng(seed)
    x = unit(rng, 40, 8)
    x[10] = x[3]  # exact duplicates: similarity 1, the earliest partner wins
    x[25] = x[3]
    x[30] = l2_normalize((x[4] + 0.01 * rng.standard_normal(8)).astype(np.float32)[None])[0]
    best, partner = max_similarity_to_earlier(x, block_size=7)
    ref_best, ref_partner = brute_force(x)
    np.testing.assert_array_equal(partner, ref_partner)
    np.testing.assert_array_equal(np.isnan(best), np.isnan(ref_best))
    np.testing.assert_allclose(best[1:], ref_best[1:], rtol=0, atol=0)
    assert partner[10] == 3 and partner[25] == 3 and best[25] == pytest.approx(1.0)


def test_chain_removes_rows_whose_partner_was_removed() -> None:
    # A ~ B ~ C but A !~ C: B goes because of A, C goes because of B (B itself removed)
    a = np.array([1.0, 0.0])
    b = np.array([np.cos(0.2), np.sin(0.2)])
    c = np.array([np.cos(0.4), np.sin(0.4)])
    x = np.stack([a, b, c]).astype(np.float32)
    best, partner = max_similarity_to_earlier(x, block_size=1)
    eps = 1 - np.cos(0.25)  # between the neighbours' and A–C's distance
    assert removed_mask(best, eps).tolist() == [False, True, True]
    assert partner.tolist() == [-1, 0, 1]


def test_block_size_does_not_change_the_answer() -> None:
    rng = np.random.default_rng(9)
    x = unit(rng, 1000, 32)
    x[500:520] = x[100:120]
    one = max_similarity_to_earlier(x, block_size=1000)
    for block in (1, 17, 128, 999):
        other = max_similarity_to_earlier(x, block_size=block)
        np.testing.assert_array_equal(other[1], one[1])
        np.testing.assert_array_equal(other[0], one[0])


def test_singleton_cluster_keeps_its_row() -> None:
    best, partner = max_similarity_to_earlier(unit(np.random.default_rng(0), 1, 4), 16)
    assert np.isnan(best[0]) and partner[0] == -1 and not removed_mask(best, 1.9)[0]


def test_orders_break_ties_by_id() -> None:
    dist = np.array([0.5, 0.2, 0.5, 0.9])
    ids = np.array([40, 10, 30, 20])
    assert ids[order_within_cluster(dist, ids, "hard")].tolist() == [20, 30, 40, 10]
    assert ids[order_within_cluster(dist, ids, "easy")].tolist() == [10, 30, 40, 20]
    key = np.array([3, 1, 1, 0])
    assert ids[order_within_cluster(dist, ids, "random", key)].tolist() == [20, 10, 30, 40]
    with pytest.raises(ValueError, match="'best'"):
        order_within_cluster(dist, ids, "best")


def reference_stage(frame, x_by_id: dict[int, np.ndarray], order: str) -> dict[int, tuple]:  # type: ignore[no-untyped-def]
    """Numpy run of the rule on the stage's own clusters and distances."""
    out = {}
    for _, group in frame.groupby("semdedup_cluster_id"):
        ids = group["id"].to_numpy()
        dist = group["semdedup_dist"].to_numpy()
        perm = order_within_cluster(dist, ids, order)
        x = np.stack([x_by_id[i] for i in ids[perm]])
        best, partner = brute_force(l2_normalize(x))
        for pos, row_id in enumerate(ids[perm]):
            out[int(row_id)] = (
                best[pos],
                None if partner[pos] < 0 else int(ids[perm][partner[pos]]),
            )
    return out


def test_spark_stage_matches_numpy_and_any_partitioning(spark: SparkSession, tmp_path) -> None:  # type: ignore[no-untyped-def]
    rng = np.random.default_rng(1)
    x = unit(rng, 300, 8)
    x[200:260] = l2_normalize(x[:60] + 0.02 * rng.standard_normal((60, 8)).astype(np.float32))
    ids = np.arange(300, dtype=np.int64) * 7  # ids need not be dense
    cfg = SemDedupConfig(enabled=True, eps=0.05, rows_per_cluster=60, block_size=16)
    frames = []
    for partitions in (1, 3, 8):
        path = write_input(spark, tmp_path / f"in{partitions}", ids, x, partitions=partitions)
        df = spark.read.format("delta").load(path)
        result, info = semdedup(df, cfg, "id", "image_emb", 8, 300)
        frames.append(result.orderBy("id").toPandas())
    assert info["kmeans"]["k"] == 5 and info["largest_cluster_rows"] > 0
    first = frames[0]
    assert len(first) == 300 and first["id"].is_unique
    for other in frames[1:]:
        assert other.equals(first)
    expected = reference_stage(first, dict(zip(ids.tolist(), x, strict=True)), "hard")
    for row in first.itertuples():
        best, partner = expected[row.id]
        if partner is None:
            assert np.isnan(row.semdedup_max_sim) and np.isnan(row.semdedup_partner)
        else:
            assert row.semdedup_partner == partner and row.semdedup_max_sim == best
    removed = removed_mask(first["semdedup_max_sim"].to_numpy(), 0.05)
    assert removed.sum() >= 50  # the planted near duplicates
