"""Balanced sampling down a hierarchy (core/hierarchical.py, Vo et al. 2024) against a
row-at-a-time numpy reference."""

from __future__ import annotations

import numpy as np
import pytest

from spark_prune.core.hierarchical import balanced_split, hierarchical_quotas
from spark_prune.errors import InfeasibleTargetError
from tests import reference


def test_balanced_split_fills_small_children_first() -> None:
    assert balanced_split(10, np.array([1, 8, 8, 2])).tolist() == [1, 4, 3, 2]
    assert balanced_split(19, np.array([1, 8, 8, 2])).tolist() == [1, 8, 8, 2]
    assert balanced_split(0, np.array([3, 3])).tolist() == [0, 0]
    with pytest.raises(InfeasibleTargetError, match="cannot place 20 rows"):
        balanced_split(20, np.array([1, 8, 8, 2]))


@pytest.mark.parametrize("seed", range(6))
def test_quotas_match_row_at_a_time_reference(seed: int) -> None:
    rng = np.random.default_rng(seed)
    n_leaves = int(rng.integers(3, 30))
    sizes = rng.integers(1, 40, n_leaves)
    mid = rng.integers(0, max(2, n_leaves // 3), n_leaves)
    mid = np.unique(mid, return_inverse=True)[1]  # every mid node has a child
    top = rng.integers(0, 3, mid.max() + 1)
    parents = [mid, top]
    for target in (0, 1, int(sizes.sum()) // 3, int(sizes.sum()) - 1, int(sizes.sum())):
        got = hierarchical_quotas(sizes, parents, target)
        expected = reference.hierarchical_quotas(sizes, parents, target)
        np.testing.assert_array_equal(got, expected)
        assert got.sum() == target and (got <= sizes).all()
