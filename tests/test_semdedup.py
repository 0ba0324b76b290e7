"""SemDeDup: the numpy core against brute force, block-size independence, and the Spark stage
against a plain numpy run of the same rule on the stage's own clusters."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
import pytest
from pyspark.sql import SparkSession
from pyspark.sql import functions as F

from spark_prune.config import SemDedupConfig, SemDedupKMeansConfig
from spark_prune.core.ordering import order_within_cluster
from spark_prune.core.semdedup_kernel import dedup_cluster, max_similarity_to_earlier, removed_mask
from spark_prune.core.vectors import l2_normalize
from spark_prune.order_columns import hash_key
from spark_prune.semdedup import apply_eps, default_k, semdedup, semdedup_removed


def brute_force(x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The rule written plainly: every earlier row, float64 dot rounded to float32, first max."""
    n = len(x)
    best, partner = np.full(n, -np.inf), np.full(n, -1, dtype=np.int64)
    x64 = x.astype(np.float64)
    for j in range(1, n):
        sims = np.array([np.float32(np.dot(x64[i], x64[j])) for i in range(j)], np.float64)
        partner[j] = int(np.argmax(sims))  # the first maximum: ties go to the earliest row
        best[j] = sims[partner[j]]
    return best, partner


def unit(rng: np.random.Generator, n: int, d: int) -> np.ndarray:
    return l2_normalize(rng.standard_normal((n, d)).astype(np.float32))


def near_copies(rng: np.random.Generator, x: np.ndarray, scale: float) -> np.ndarray:
    noise = scale * rng.standard_normal(x.shape).astype(np.float32) / np.sqrt(x.shape[1])
    return l2_normalize(x + noise)


def tricky_cluster(seed: int, n: int, d: int) -> np.ndarray:
    """Random rows plus exact duplicates, near duplicates and near ties below float32 noise."""
    rng = np.random.default_rng(seed)
    x = unit(rng, n, d)
    x[n // 4] = x[3]  # exact duplicates: similarity 1 to row 3, the earliest copy wins
    x[n // 2] = x[3]
    x[n // 3 : n // 3 + 5] = near_copies(rng, x[10:15], 0.05)
    x[-6:] = near_copies(rng, np.repeat(x[5:6], 6, axis=0), 1e-6)  # ties within float32 error
    return x


@pytest.mark.parametrize("seed", range(4))
@pytest.mark.parametrize("block", [1, 3, 16, 1000])
def test_matches_brute_force(seed: int, block: int) -> None:
    x = tricky_cluster(seed, 60, 24)
    best, partner = max_similarity_to_earlier(x, block_size=block)
    ref_best, ref_partner = brute_force(x)
    np.testing.assert_array_equal(partner, ref_partner)
    np.testing.assert_array_equal(best, ref_best)  # bit for bit
    assert partner[15] == 3 and partner[30] == 3 and best[30] == best[15] >= np.float32(0.99999)


@pytest.mark.parametrize("block", [7, 32, 64])
def test_matches_brute_force_with_many_copies(block: int) -> None:
    """Rows with more than MAX_CANDIDATES_PER_ROW equal similarities (the float64 tile path),
    and whole blocks of them (the screen is skipped for the next tile)."""
    rng = np.random.default_rng(5)
    x = unit(rng, 120, 16)
    x[20:100] = x[19]
    x[100:120] = near_copies(rng, np.repeat(x[2:3], 20, axis=0), 1e-6)
    best, partner = max_similarity_to_earlier(x, block_size=block)
    ref_best, ref_partner = brute_force(x)
    np.testing.assert_array_equal(partner, ref_partner)
    np.testing.assert_array_equal(best, ref_best)
    assert (partner[20:100] == 19).all()


def test_chain_removes_rows_whose_partner_was_removed() -> None:
    # A ~ B ~ C but A !~ C: B goes because of A, C goes because of B (B itself removed)
    angles = np.array([0.0, 0.2, 0.4])
    x = np.stack([np.cos(angles), np.sin(angles)], axis=1).astype(np.float32)
    best, partner = max_similarity_to_earlier(x, block_size=1)
    eps = 1 - np.cos(0.25)  # between the neighbours' distance and A–C's
    assert removed_mask(best, eps).tolist() == [False, True, True]
    assert partner.tolist() == [-1, 0, 1]


def test_block_size_does_not_change_the_answer() -> None:
    rng = np.random.default_rng(9)
    x = unit(rng, 1500, 32)
    x[500:520] = x[100:120]
    x[700:900] = near_copies(rng, np.repeat(x[42:43], 200, axis=0), 1e-5)  # many near ties
    x[1400:] = x[1399]  # a run of identical rows: every row has many candidates
    one = max_similarity_to_earlier(x, block_size=1500)
    for block in (7, 128, 999, 4096):
        other = max_similarity_to_earlier(x, block_size=block)
        np.testing.assert_array_equal(other[1], one[1])
        np.testing.assert_array_equal(other[0], one[0])
    assert (one[1][1401:] == 1399).all()


def test_singletons_empty_and_bad_arguments() -> None:
    best, partner = max_similarity_to_earlier(unit(np.random.default_rng(0), 1, 4), 16)
    assert best.tolist() == [-np.inf] and partner.tolist() == [-1]
    assert not removed_mask(best, 1.99)[0]
    empty = max_similarity_to_earlier(np.zeros((0, 4), np.float32), 16)
    assert empty[0].shape == empty[1].shape == (0,)
    with pytest.raises(ValueError, match="block_size .* got 0"):
        max_similarity_to_earlier(unit(np.random.default_rng(0), 3, 4), 0)
    with pytest.raises(ValueError, match=r"eps .* got 2\.5"):
        removed_mask(best, 2.5)


def test_removal_rule_boundary_and_nan() -> None:
    eps = 0.07
    sims = np.array([-np.inf, np.nan, 1 - eps, np.nextafter(1 - eps, 2), 1.0])
    assert removed_mask(sims, eps).tolist() == [False, False, False, True, True]


def test_orders_break_ties_by_id() -> None:
    dist = np.array([0.5, 0.2, 0.5, 0.9])
    ids = np.array([40, 10, 30, 20])
    assert ids[order_within_cluster(dist, ids, "hard")].tolist() == [20, 30, 40, 10]
    assert ids[order_within_cluster(dist, ids, "easy")].tolist() == [10, 30, 40, 20]
    key = np.array([3, 1, 1, 0])
    assert ids[order_within_cluster(dist, ids, "random", key)].tolist() == [20, 10, 30, 40]
    words = np.array(["b", "a", "c", "d"], dtype=object)
    assert words[order_within_cluster(dist, words, "hard")].tolist() == ["d", "b", "c", "a"]
    with pytest.raises(ValueError, match="'best'"):
        order_within_cluster(dist, ids, "best")
    with pytest.raises(ValueError, match="random_key"):
        order_within_cluster(dist, ids, "random")


def test_dedup_cluster_answers_in_input_order() -> None:
    x = tricky_cluster(3, 40, 8)
    ids = np.arange(40)[::-1].copy()
    dist = np.random.default_rng(1).uniform(size=40)
    max_sim, partner = dedup_cluster(ids, dist, x, "hard", 5)
    perm = order_within_cluster(dist, ids, "hard")
    ref_best, ref_partner = brute_force(l2_normalize(x[perm]))
    np.testing.assert_array_equal(max_sim[perm], ref_best)
    np.testing.assert_array_equal(partner[perm], np.where(ref_partner < 0, -1, perm[ref_partner]))


# ---------------------------------------------------------------- the Spark stage


def sort_key(order: str, dist: float, row_id: Any, key: int | None) -> tuple[Any, ...]:
    if order == "hard":
        return (-dist, row_id)
    if order == "easy":
        return (dist, row_id)
    return (key, row_id)


def reference_stage(
    frame: pd.DataFrame, x_by_id: dict[Any, np.ndarray], order: str, keys: dict[Any, int]
) -> dict[Any, tuple[float, Any]]:
    """The rule in plain numpy on the stage's own clusters and distances: id -> (sim, partner)."""
    out: dict[Any, tuple[float, Any]] = {}
    for _, group in frame.groupby("semdedup_cluster_id"):
        rows = sorted(
            zip(group["id"], group["semdedup_dist"], strict=True),
            key=lambda r: sort_key(order, r[1], r[0], keys.get(r[0])),
        )
        ordered = [r[0] for r in rows]
        best, partner = brute_force(l2_normalize(np.stack([x_by_id[i] for i in ordered])))
        for pos, row_id in enumerate(ordered):
            out[row_id] = (best[pos], None if partner[pos] < 0 else ordered[partner[pos]])
    return out


def assert_matches_reference(
    result: pd.DataFrame, x_by_id: dict[Any, np.ndarray], order: str, keys: dict[Any, int]
) -> None:
    expected = reference_stage(result, x_by_id, order, keys)
    got = {
        r.id: (r.semdedup_max_sim, r.semdedup_partner)
        for r in result[["id", "semdedup_max_sim", "semdedup_partner"]].itertuples()
    }
    for row_id, (best, partner) in expected.items():
        sim, got_partner = got[row_id]
        if partner is None:
            assert pd.isna(sim) and pd.isna(got_partner), row_id
        else:
            assert (got_partner, sim) == (partner, best), row_id


def planted(n: int, d: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    x = unit(rng, n, d)
    x[n - 60 :] = near_copies(rng, x[:60], 0.02)
    x[n - 70 : n - 60] = x[100:110]  # exact copies
    return np.arange(n, dtype=np.int64) * 7, x  # ids need not be dense


def embeddings_frame(spark: SparkSession, ids: list[Any], x: np.ndarray, id_type: str) -> Any:
    rows = [(i, [float(v) for v in vec]) for i, vec in zip(ids, x, strict=True)]
    return spark.createDataFrame(rows, f"id {id_type}, image_emb array<float>")


def test_spark_stage_matches_numpy_for_any_partitioning(spark: SparkSession) -> None:
    ids, x = planted(300, 8, seed=1)
    df = embeddings_frame(spark, ids.tolist(), x, "long")
    cfg = SemDedupConfig(enabled=True, eps=0.05, rows_per_cluster=60, block_size=16)
    frames = []
    for partitions in (1, 3, 8):
        shuffled = df.repartition(partitions, F.rand(partitions))  # rows arrive in another order
        assert shuffled.rdd.getNumPartitions() == partitions
        result, info = semdedup(shuffled, cfg, "id", "image_emb", 8, 300)
        frames.append(result.orderBy("id").toPandas())
        result.unpersist()
    first = frames[0]
    assert list(first.columns) == [
        "id",
        "semdedup_cluster_id",
        "semdedup_dist",
        "semdedup_max_sim",
        "semdedup_partner",
    ]
    assert len(first) == 300 and sorted(first["id"]) == sorted(ids)  # no row lost or repeated
    for other in frames[1:]:
        pd.testing.assert_frame_equal(other, first)
    assert_matches_reference(first, dict(zip(ids.tolist(), x, strict=True)), "hard", {})
    removed = removed_mask(first["semdedup_max_sim"].to_numpy(), cfg.eps)
    assert removed.sum() >= 65  # the planted copies
    assert cfg.kmeans.k == "auto" and info["k"] == 5  # auto: 300 rows / 60 per cluster
    assert info["kmeans"]["k"] == 5 and info["eps"] == 0.05 and info["removed"] == removed.sum()
    sizes = first.groupby("semdedup_cluster_id").size()
    assert info["largest_cluster_rows"] == sizes.max() and info["rows"] == 300
    assert info["similarity_dtype"] == "float32" and info["estimate_before_run"]["rows"] > 0


@pytest.mark.parametrize("order", ["easy", "random"])
def test_spark_stage_other_orders_and_string_ids(spark: SparkSession, order: str) -> None:
    num_ids, x = planted(200, 6, seed=2)
    ids = [f"row-{i}" for i in num_ids]
    df = embeddings_frame(spark, ids, x, "string").repartition(3)
    cfg = SemDedupConfig(
        enabled=True, eps=0.05, order=order, seed=7, kmeans=SemDedupKMeansConfig(k=3, iterations=10)
    )
    result, info = semdedup(df, cfg, "id", "image_emb", 6, 200)
    frame = result.toPandas()
    assert len(frame) == 200 and set(frame["id"]) == set(ids) and info["kmeans"]["k"] == 3
    keys = {r["id"]: r["k"] for r in df.select("id", hash_key("id", 7).alias("k")).collect()}
    assert_matches_reference(frame, dict(zip(ids, x, strict=True)), order, keys)
    result.unpersist()


def test_apply_eps_matches_numpy_rule(spark: SparkSession) -> None:
    eps = 0.07
    values = [None, 1 - eps, float(np.nextafter(1 - eps, 2)), 0.5, 1.0, float("nan")]
    df = spark.createDataFrame(
        [(i, v) for i, v in enumerate(values)], "id int, semdedup_max_sim double"
    )
    got = [r["semdedup_removed"] for r in apply_eps(df, eps).orderBy("id").collect()]
    expected = removed_mask(np.array([np.nan if v is None else v for v in values]), eps)
    assert got == expected.tolist() == [False, False, True, False, True, False]
    with pytest.raises(ValueError, match="eps"):
        semdedup_removed(F.col("semdedup_max_sim"), -0.1)
    with pytest.raises(ValueError, match="semdedup_max_sim"):
        apply_eps(df.drop("semdedup_max_sim"), eps)


def test_default_k_resolves_auto() -> None:
    auto = SemDedupConfig(rows_per_cluster=100)
    assert [default_k(auto, n) for n in (0, 1, 100, 101, 250)] == [1, 1, 1, 2, 3]
    fixed = SemDedupConfig(rows_per_cluster=100, kmeans=SemDedupKMeansConfig(k=7))
    assert default_k(fixed, 10_000) == 7
    fitted = auto.kmeans.with_k(default_k(auto, 250))
    assert (fitted.k, fitted.iterations, fitted.seed) == (3, 20, 1234)


def test_empty_input(spark: SparkSession) -> None:
    df = spark.createDataFrame([], "id long, image_emb array<float>")
    result, info = semdedup(df, SemDedupConfig(enabled=True), "id", "image_emb", 4, 0)
    assert result.count() == 0 and info["removed"] == 0
    assert result.columns[-1] == "semdedup_partner"


def test_stage_rejects_bad_settings(spark: SparkSession) -> None:
    df = spark.createDataFrame([(1, [1.0, 0.0])], "id long, image_emb array<float>")
    with pytest.raises(ValueError, match="'best'"):
        semdedup(df, SemDedupConfig(enabled=True, order="best"), "id", "image_emb", 2, 1)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match=r"semdedup\.eps"):
        semdedup(df, SemDedupConfig(enabled=True, eps=2.5), "id", "image_emb", 2, 1)
    with pytest.raises(ValueError, match="block_size"):
        semdedup(df, SemDedupConfig(enabled=True, block_size=0), "id", "image_emb", 2, 1)
