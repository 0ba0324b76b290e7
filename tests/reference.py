"""A plain, loop-based numpy implementation of method.md §3–4, written independently of the
library, used as the oracle for the Spark pipeline."""

from __future__ import annotations

import numpy as np


def assign(x: np.ndarray, centroids: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    x = x / np.linalg.norm(x, axis=1, keepdims=True)
    sims = x.astype(np.float64) @ centroids.astype(np.float64).T
    cluster = sims.argmax(axis=1)
    return cluster, 1.0 - sims[np.arange(len(x)), cluster]


def projection(a: np.ndarray, lower: np.ndarray, upper: np.ndarray, target: int) -> np.ndarray:
    """Bisection on ν for Σ clip(a − ν, lb, M) = N (a different algorithm from the library's)."""
    lo, hi = float(np.min(a - upper)) - 1, float(np.max(a - lower)) + 1
    for _ in range(200):
        mid = (lo + hi) / 2
        if np.clip(a - mid, lower, upper).sum() > target:
            lo = mid
        else:
            hi = mid
    return np.clip(a - (lo + hi) / 2, lower, upper)


def integer_quotas(x: np.ndarray, target: int, lower: np.ndarray, upper: np.ndarray) -> np.ndarray:
    q = np.floor(x + 1e-9).astype(int)
    order = sorted(range(len(x)), key=lambda j: (-(x[j] - q[j]), j))
    for j in order:
        if q.sum() >= target:
            break
        if q[j] < upper[j]:
            q[j] += 1
    assert q.sum() == target
    return q


def dbp(
    ids: np.ndarray, x: np.ndarray, centroids: np.ndarray, keep: int, tau: float, neighbours: int
) -> dict[str, object]:
    cluster, dist = assign(x, centroids)
    used = sorted(set(cluster.tolist()))
    size = np.array([np.sum(cluster == j) for j in used])
    d_intra = np.array([dist[cluster == j].mean() for j in used])
    d_inter = []
    for j in used:
        others = [
            1 - float(centroids[j].astype(np.float64) @ centroids[i].astype(np.float64))
            for i in used
            if i != j
        ]
        d_inter.append(np.mean(sorted(others)[: min(neighbours, len(used) - 1)]) if others else 0.0)
    c = np.array(d_inter) * d_intra
    p = np.exp(c / tau) / np.exp(c / tau).sum()
    lower = np.minimum(1, size - 1)
    quota = integer_quotas(projection(keep * p, lower, size, keep), keep, lower, size)
    kept: list[int] = []
    for j, q in zip(used, quota, strict=True):
        rows = np.flatnonzero(cluster == j)
        order = sorted(rows, key=lambda r: (-dist[r], ids[r]))
        kept.extend(int(ids[r]) for r in order[:q])
    return {
        "clusters": used,
        "size": size,
        "d_intra": d_intra,
        "d_inter": np.array(d_inter),
        "complexity": c,
        "p": p,
        "quota": quota,
        "kept": sorted(kept),
        "cluster": cluster,
        "dist": dist,
    }


def hierarchical_quotas(sizes: np.ndarray, parents: list[np.ndarray], target: int) -> np.ndarray:
    """Balanced sampling one row at a time: from the top, each row goes to the child with the
    fewest rows so far that still has room (ties: lowest index), down to a leaf."""
    levels = [np.asarray(sizes, dtype=int)]
    for parent in parents:
        n_nodes = int(max(parent)) + 1
        levels.append(np.array([levels[-1][parent == j].sum() for j in range(n_nodes)]))
    taken = [np.zeros(len(cap), dtype=int) for cap in levels]
    for _ in range(target):
        candidates = list(range(len(levels[-1])))
        for level in range(len(levels) - 1, -1, -1):
            room = [c for c in candidates if taken[level][c] < levels[level][c]]
            child = min(room, key=lambda c: (taken[level][c], c))
            taken[level][child] += 1
            if level:
                candidates = [i for i, p in enumerate(parents[level - 1]) if p == child]
    return taken[0]


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
