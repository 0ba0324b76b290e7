"""Nearest-centroid assignment in numpy (core/assign.py) against a plain float64 argmax."""

from __future__ import annotations

import numpy as np

from spark_prune.core import assign as core_assign
from spark_prune.core.assign import nearest_centroids
from spark_prune.core.vectors import l2_normalize


def test_matches_numpy_and_ties_go_to_the_lowest_id() -> None:
    rng = np.random.default_rng(3)
    x = l2_normalize(rng.standard_normal((50, 6)).astype(np.float32))
    c = l2_normalize(rng.standard_normal((7, 6)).astype(np.float32))
    ids, dist = nearest_centroids(x, c)
    sims = (x.astype(np.float64) @ c.T.astype(np.float64)).astype(np.float32)
    np.testing.assert_array_equal(ids, sims.argmax(axis=1))
    np.testing.assert_allclose(dist, 1.0 - sims.max(axis=1).astype(np.float64), atol=1e-7)
    assert dist.dtype == np.float64 and ids.dtype == np.int32
    twins = np.stack([c[2], c[0], c[2]])  # centroid 2 appears at ids 0 and 2 below
    tie_ids, tie_dist = nearest_centroids(twins[[2, 1, 0]], twins)
    np.testing.assert_array_equal(tie_ids, [0, 1, 0])  # an exact tie of ids 0 and 2 -> 0
    assert np.abs(tie_dist).max() < 1e-6


def test_result_does_not_depend_on_the_block(monkeypatch) -> None:  # type: ignore[no-untyped-def]
    rng = np.random.default_rng(4)
    x = l2_normalize(rng.standard_normal((40, 5)).astype(np.float32))
    c = l2_normalize(rng.standard_normal((4, 5)).astype(np.float32))
    whole = nearest_centroids(x, c)
    monkeypatch.setattr(core_assign, "MAX_BLOCK_ENTRIES", 12)  # 3 rows per block
    blocked = nearest_centroids(x, c)
    rows = [nearest_centroids(x[i : i + 1], c) for i in range(len(x))]
    np.testing.assert_array_equal(whole[0], blocked[0])
    np.testing.assert_array_equal(whole[1], blocked[1])
    np.testing.assert_array_equal(whole[1], np.concatenate([r[1] for r in rows]))
