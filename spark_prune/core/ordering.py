"""Processing orders inside a cluster (numpy; ties always to the smaller id)."""

from __future__ import annotations

import numpy as np

ORDERS = ("hard", "easy", "random")


def check_order(order: str) -> str:
    if order not in ORDERS:
        raise ValueError(f"semdedup.order must be one of {', '.join(ORDERS)}; got {order!r}")
    return order


def order_within_cluster(
    dist: np.ndarray, ids: np.ndarray, order: str, random_key: np.ndarray | None = None
) -> np.ndarray:
    """The processing order of one cluster's rows, as a permutation of their positions.

    ``hard``: dist descending; ``easy``: dist ascending; ``random``: ``random_key`` ascending,
    where the key is the seeded xxhash64 of the id that Spark computes (``order_columns.hash_key``,
    the same key DBP's random order uses), so the order does not depend on partitioning.
    Ties always go to the smaller id.
    """
    check_order(order)
    if order == "hard":
        return np.lexsort((ids, -np.asarray(dist, dtype=np.float64)))
    if order == "easy":
        return np.lexsort((ids, np.asarray(dist, dtype=np.float64)))
    if random_key is None:
        raise ValueError(
            "order 'random' needs random_key: order_columns.hash_key(id, seed) per row"
        )
    return np.lexsort((ids, random_key))
