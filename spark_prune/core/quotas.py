"""Cluster complexity and per-cluster quotas (Abbas et al. 2024, DBP). Driver-side, O(k log k).

Every formula of method.md §4 has exactly one implementation here; the Spark stages call these
on the k-row cluster table.
"""

from __future__ import annotations

import numpy as np

from spark_prune.errors import InfeasibleTargetError as InfeasibleTargetError  # re-exported


def inter_cluster_distance(centroids: np.ndarray, num_neighbors: int) -> np.ndarray:
    """d_inter(j): mean cosine distance from centroid j to its l nearest *other* centroids.

    j itself is excluded by index (duplicate centroids exist, so it need not be the first hit);
    l is capped at k - 1. A lone centroid has d_inter = 0.
    """
    c = np.asarray(centroids, dtype=np.float64)
    k = c.shape[0]
    neighbours = min(num_neighbors, k - 1)
    if neighbours <= 0:
        return np.zeros(k)
    dist = 1.0 - c @ c.T
    np.fill_diagonal(dist, np.inf)
    nearest = np.partition(dist, neighbours - 1, axis=1)[:, :neighbours]
    return np.asarray(nearest.mean(axis=1))


def complexity(d_inter: np.ndarray, d_intra: np.ndarray) -> np.ndarray:
    """C_j = d_inter(j) * d_intra(j)."""
    return np.asarray(d_inter, dtype=np.float64) * np.asarray(d_intra, dtype=np.float64)


def cluster_probabilities(complexities: np.ndarray, tau: float) -> np.ndarray:
    """P = softmax(C / tau), computed stably (max subtracted)."""
    if tau <= 0:
        raise ValueError(f"tau must be > 0, got {tau}")
    z = np.asarray(complexities, dtype=np.float64) / tau
    if z.size == 0:
        return z
    e = np.exp(z - z.max())
    return np.asarray(e / e.sum())


def lower_bounds(sizes: np.ndarray, target: int, balance_ratio: float = 0.0) -> np.ndarray:
    """lb_j = min(1, M_j - 1) for ratio 0, else min(floor(ratio * N / k), M_j - 1)."""
    m = np.asarray(sizes, dtype=np.int64)
    floor_value = (
        1 if balance_ratio == 0 else int(np.floor(balance_ratio * target / max(len(m), 1)))
    )
    return np.maximum(np.minimum(floor_value, m - 1), 0)


def check_feasible(target: int, lower: np.ndarray, sizes: np.ndarray) -> None:
    """Raise InfeasibleTargetError when no quotas in [lower, sizes] sum to target."""
    total_max, total_min = int(np.sum(sizes)), int(np.sum(lower))
    if target > total_max:
        raise InfeasibleTargetError(
            f"target of {target} kept rows exceeds the {total_max} rows available"
        )
    if target < total_min:
        raise InfeasibleTargetError(
            f"target of {target} kept rows is below the {total_min} rows the per-cluster lower "
            f"bounds require (one per cluster of size >= 2 at balance_ratio 0); keep more rows "
            f"or use fewer clusters"
        )


def project_to_quotas(
    target: float, probabilities: np.ndarray, sizes: np.ndarray, lower: np.ndarray
) -> np.ndarray:
    """Exact solution of min ½‖x − N·P‖² s.t. Σx = N, lb ≤ x ≤ M (a Euclidean projection).

    x_j = clip(N·P_j − ν, lb_j, M_j); f(ν) = Σ x_j is piecewise linear and non-increasing, so
    ν is found exactly between two sorted breakpoints. Overflow from capped clusters is taken
    evenly (additively) from the others.
    """
    a = target * np.asarray(probabilities, dtype=np.float64)
    lo = np.asarray(lower, dtype=np.float64)
    hi = np.asarray(sizes, dtype=np.float64)
    check_feasible(int(round(target)), lower, sizes)
    if a.size == 0:
        return a
    breakpoints = np.unique(np.concatenate([a - hi, a - lo]))

    def total(nu: float) -> float:
        return float(np.clip(a - nu, lo, hi).sum())

    # f(ν) is non-increasing: binary-search the last breakpoint with f >= N, then solve the
    # linear piece to its right exactly. O(k log k).
    first, last = 0, breakpoints.size - 1
    while first < last:
        mid = (first + last + 1) // 2
        if total(breakpoints[mid]) >= target:
            first = mid
        else:
            last = mid - 1
    left = breakpoints[first]
    f_left = total(left)
    if first + 1 >= breakpoints.size or f_left == target:
        return np.clip(a - left, lo, hi)
    right = breakpoints[first + 1]
    f_right = total(right)
    nu = left + (f_left - target) * (right - left) / (f_left - f_right)
    return np.clip(a - nu, lo, hi)


def round_quotas(x: np.ndarray, target: int, sizes: np.ndarray, lower: np.ndarray) -> np.ndarray:
    """Integer quotas with Σ = target exactly and lower ≤ q ≤ sizes.

    Floor first, then hand the remaining units to the largest fractional parts (ties: lowest
    cluster index); if float error floored too high, take units back from the smallest ones.
    """
    m = np.asarray(sizes, dtype=np.int64)
    lo = np.asarray(lower, dtype=np.int64)
    q = np.clip(np.floor(x + 1e-9).astype(np.int64), lo, m)
    frac = x - q
    remainder = int(target - q.sum())
    index = np.arange(q.size)
    if remainder > 0:
        eligible = index[q < m]
        order = eligible[np.lexsort((eligible, -frac[eligible]))]
        if order.size < remainder:
            raise InfeasibleTargetError(f"cannot place {remainder} more rows within the caps")
        q[order[:remainder]] += 1
    elif remainder < 0:
        eligible = index[q > lo]
        order = eligible[np.lexsort((eligible, frac[eligible]))]
        q[order[:-remainder]] -= 1
    return q


def solve_quotas(
    target: int, probabilities: np.ndarray, sizes: np.ndarray, lower: np.ndarray
) -> np.ndarray:
    """Integer per-cluster quotas: the QP's exact projection, rounded to sum to ``target``."""
    check_feasible(target, lower, sizes)
    x = project_to_quotas(float(target), probabilities, sizes, lower)
    return round_quotas(x, target, sizes, lower)
