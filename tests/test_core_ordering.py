"""Processing orders inside a cluster (core/ordering.py): ties always to the smaller id;
``semdedup.keep_by`` orders by a value, nulls last."""

from __future__ import annotations

import numpy as np
import pytest

from spark_prune.core.ordering import order_by_value, order_within_cluster


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


def test_order_by_value_ties_by_id_and_nulls_last() -> None:
    ids = np.array([40, 10, 30, 20, 50])
    value = np.array([2.0, np.nan, 5.0, 2.0, 1.0])
    assert ids[order_by_value(value, ids, True)].tolist() == [30, 20, 40, 50, 10]
    assert ids[order_by_value(value, ids, False)].tolist() == [50, 20, 40, 30, 10]
