"""semdedup.border_margin: pairs split by k-means, against a plain numpy statement of the rule
(home and guest contexts, one global order, max over contexts)."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import numpy as np
import pandas as pd
import pytest
from pyspark.sql import SparkSession

from spark_prune.clustering import fit_kmeans_sized
from spark_prune.config import SemDedupConfig, SemDedupKMeansConfig
from spark_prune.core.assign import nearest_centroids, two_nearest_centroids
from spark_prune.core.semdedup_kernel import removed_mask
from spark_prune.core.vectors import l2_normalize
from spark_prune.semdedup import semdedup
from tests.test_semdedup import brute_force, embeddings_frame, near_copies, unit

EPS = 0.05
DIM = 6


def data(n: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    x = unit(rng, n, DIM)
    x[n - 80 :] = near_copies(rng, x[:80], 0.03)  # many land across a border in 6 dimensions
    return np.arange(n, dtype=np.int64) * 3 + 1, x


def reference(
    ids: np.ndarray, x: np.ndarray, centroids: np.ndarray, margin: float
) -> dict[int, tuple[float, Any]]:
    """id -> (max_sim, partner id) by the rule of spark_prune.semdedup_border, written plainly."""
    unit_x = l2_normalize(x)
    sims = (unit_x.astype(np.float64) @ centroids.astype(np.float64).T).astype(np.float32)
    order = np.argsort(-sims, axis=1, kind="stable")
    home, second = order[:, 0], order[:, 1]
    d1 = 1.0 - sims[np.arange(len(x)), home].astype(np.float64)
    d2 = 1.0 - sims[np.arange(len(x)), second].astype(np.float64)
    rank = {int(ids[r]): (-d1[r], int(ids[r])) for r in range(len(x))}  # hard: one global order
    home_result: dict[int, tuple[float, Any]] = {}
    guest_result: dict[int, tuple[float, Any]] = {}
    for c in range(centroids.shape[0]):
        guests = [r for r in range(len(x)) if second[r] == c and d2[r] - d1[r] < margin]
        members = sorted(
            [r for r in range(len(x)) if home[r] == c] + guests, key=lambda r: rank[int(ids[r])]
        )
        if not members:
            continue
        value, partner = brute_force(unit_x[members])
        for pos, r in enumerate(members):
            found = (value[pos], None if partner[pos] < 0 else int(ids[members[partner[pos]]]))
            (home_result if home[r] == c else guest_result)[int(ids[r])] = found
    best = {}
    for row_id, at_home in home_result.items():
        as_guest = guest_result.get(row_id)
        best[row_id] = as_guest if as_guest and as_guest[0] > at_home[0] else at_home
    return best


def run_stage(spark: SparkSession, df: Any, cfg: SemDedupConfig, n: int) -> pd.DataFrame:
    result, _ = semdedup(df, cfg, "id", "image_emb", DIM, n)
    frame = result.orderBy("id").toPandas()
    result.unpersist()
    return frame


@pytest.fixture(scope="module")
def planted(spark: SparkSession) -> tuple[np.ndarray, np.ndarray, Any, SemDedupConfig]:
    ids, x = data(400, seed=8)
    df = embeddings_frame(spark, ids.tolist(), x, "long").repartition(3)
    cfg = SemDedupConfig(enabled=True, eps=EPS, kmeans=SemDedupKMeansConfig(k=8, iterations=10))
    return ids, x, df, cfg


def test_matches_numpy_rule_and_finds_split_pairs(spark: SparkSession, planted) -> None:  # type: ignore[no-untyped-def]
    ids, x, df, cfg = planted
    km, _ = fit_kmeans_sized(df, "id", "image_emb", DIM, 400, cfg.kmeans.with_k(8), "test")
    plain = run_stage(spark, df, cfg, 400)
    wide = run_stage(spark, df, replace(cfg, border_margin=0.1), 400)
    expected = reference(ids, x, km.centroids, 0.1)
    for r in wide.itertuples():
        value, partner = expected[r.id]
        if partner is None:
            assert pd.isna(r.semdedup_max_sim) and pd.isna(r.semdedup_partner), r.id
        else:
            assert (r.semdedup_max_sim, r.semdedup_partner) == (value, partner), r.id
    home, _ = nearest_centroids(l2_normalize(x), km.centroids)
    np.testing.assert_array_equal(wide["semdedup_cluster_id"].to_numpy(), home)  # home kept
    np.testing.assert_array_equal(wide["semdedup_dist"], plain["semdedup_dist"])
    missed = removed_mask(plain["semdedup_max_sim"].to_numpy(), EPS)
    found = removed_mask(wide["semdedup_max_sim"].to_numpy(), EPS)
    planted_copies = np.isin(wide["id"].to_numpy(), ids[-80:])
    assert found[planted_copies].sum() > missed[planted_copies].sum()  # split pairs now found
    assert (found | ~missed).all()  # nothing found before is lost


def test_zero_and_tiny_margins_reproduce_todays_decisions(spark: SparkSession, planted) -> None:  # type: ignore[no-untyped-def]
    _, _, df, cfg = planted
    plain = run_stage(spark, df, cfg, 400)
    tiny = run_stage(spark, df, replace(cfg, border_margin=1e-12), 400)  # guest path, no guests
    pd.testing.assert_frame_equal(tiny, plain)


def test_two_nearest_agrees_with_nearest() -> None:
    rng = np.random.default_rng(2)
    x, c = unit(rng, 500, 5), unit(rng, 7, 5)
    first, d1, second, d2 = two_nearest_centroids(x, c)
    ref_first, ref_d1 = nearest_centroids(x, c)
    np.testing.assert_array_equal(first, ref_first)
    np.testing.assert_array_equal(d1, ref_d1)
    sims = (x.astype(np.float64) @ c.astype(np.float64).T).astype(np.float32)
    sims[np.arange(500), first] = -np.inf
    np.testing.assert_array_equal(second, sims.argmax(axis=1))
    assert (d2 >= d1).all() and (second != first).all()
    one = two_nearest_centroids(x, c[:1])
    assert (one[2] == -1).all() and np.isinf(one[3]).all()
