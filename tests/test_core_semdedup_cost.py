"""SemDeDup's cost estimate (core/semdedup_cost.py): sizes from the sample, the warning's sums."""

from __future__ import annotations

import logging

import numpy as np
import pytest

from spark_prune.core.assign import nearest_centroids
from spark_prune.core.semdedup_cost import (
    WARN_ABOVE_SECONDS,
    estimated_sizes,
    log_largest_cluster,
    measure_pair_rate,
)
from spark_prune.core.vectors import l2_normalize


def test_estimated_sizes_scale_the_sample_assignment() -> None:
    rng = np.random.default_rng(1)
    sample = rng.standard_normal((40, 4)).astype(np.float32)
    centroids = l2_normalize(rng.standard_normal((3, 4)).astype(np.float32))
    cluster, _ = nearest_centroids(l2_normalize(sample), centroids)
    expected = np.bincount(cluster, minlength=3) * 10.0
    np.testing.assert_allclose(estimated_sizes(sample, centroids, 400), expected)
    assert estimated_sizes(sample, centroids, 400).sum() == pytest.approx(400)


def test_the_largest_cluster_is_logged_and_a_long_one_is_a_warning(
    caplog: pytest.LogCaptureFixture,
) -> None:
    sizes = np.array([10.0, 101.0, 3.0])
    with caplog.at_level(logging.INFO, logger="spark_prune"):
        info = log_largest_cluster(sizes, rate=1000.0)
    assert info == {
        "cluster": 1,
        "rows": 101,
        "pairs": 5050,
        "seconds": 5.05,
        "pairs_total": 45 + 5050 + 3,
        "pairs_per_second_measured": 1000,
    }
    assert [r.levelno for r in caplog.records] == [logging.INFO]  # 5 s: no warning
    assert "largest cluster" in caplog.text and "101 rows" in caplog.text
    caplog.clear()
    with caplog.at_level(logging.INFO, logger="spark_prune"):
        log_largest_cluster(sizes, rate=5050 / (WARN_ABOVE_SECONDS + 1))
    assert [r.levelno for r in caplog.records] == [logging.WARNING]


def test_measured_rate_is_positive() -> None:
    assert measure_pair_rate(dim=8, block_size=16, rows=64) > 0
