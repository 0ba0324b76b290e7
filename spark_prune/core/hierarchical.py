"""Balanced sampling over a k-means hierarchy (Vo et al., TMLR 2024), driver-side numpy.

The hierarchy has the DBP clusters as leaves (level 1) and, above them, the clusters of a
k-means over each level's centroids. The budget is split top-down: at every node, its
children get **equal shares**, a child never more than the rows under it; what a full child
cannot take goes to the others equally (water-filling). Integer shares: every child gets
``min(capacity, q)`` with the largest ``q`` that fits, and the remaining units go one each to
the not-full children with the lowest index. The leaves' shares are the per-cluster quotas.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from spark_prune.errors import InfeasibleTargetError


def balanced_split(budget: int, capacity: np.ndarray) -> np.ndarray:
    """``budget`` units over children with these capacities, in equal shares (see module doc).

    Raises InfeasibleTargetError when the budget exceeds the total capacity.
    """
    cap = np.asarray(capacity, dtype=np.int64)
    if budget < 0 or budget > int(cap.sum()):
        raise InfeasibleTargetError(
            f"cannot place {budget} rows in clusters holding {int(cap.sum())} rows"
        )
    if budget == 0 or cap.size == 0:
        return np.zeros_like(cap)
    lo, hi = 0, int(cap.max())  # largest q with sum(min(cap, q)) <= budget
    while lo < hi:
        mid = (lo + hi + 1) // 2
        if int(np.minimum(cap, mid).sum()) <= budget:
            lo = mid
        else:
            hi = mid - 1
    share = np.minimum(cap, lo)
    left = budget - int(share.sum())
    room = np.flatnonzero(cap > lo)[:left]
    share[room] += 1
    return share


def level_capacities(sizes: np.ndarray, parents: Sequence[np.ndarray]) -> list[np.ndarray]:
    """Rows under every node, level by level: ``[sizes, level-2 totals, ...]``.

    ``parents[l][i]`` is the node of level l+2 that node i of level l+1 belongs to.
    """
    caps = [np.asarray(sizes, dtype=np.int64)]
    for parent in parents:
        parent = np.asarray(parent, dtype=np.int64)
        if parent.shape != caps[-1].shape:
            raise ValueError(f"parents: expected {caps[-1].shape[0]} entries, got {parent.shape}")
        n_nodes = int(parent.max()) + 1 if parent.size else 0
        caps.append(np.bincount(parent, weights=caps[-1], minlength=n_nodes).astype(np.int64))
    return caps


def hierarchical_quotas(
    sizes: np.ndarray, parents: Sequence[np.ndarray], target: int
) -> np.ndarray:
    """Per-leaf quotas summing to ``target``: equal shares at the top level, then inside each
    node equal shares among its children, down to the leaves (ties to the lowest index)."""
    caps = level_capacities(sizes, parents)
    budget = balanced_split(target, caps[-1])
    for level in range(len(parents) - 1, -1, -1):
        parent = np.asarray(parents[level], dtype=np.int64)
        below = np.zeros_like(caps[level])
        for node in np.flatnonzero(budget):
            children = np.flatnonzero(parent == node)
            below[children] = balanced_split(int(budget[node]), caps[level][children])
        budget = below
    return budget
