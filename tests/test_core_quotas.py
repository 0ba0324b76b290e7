"""The quota solver and complexity formulas against plain numpy / scipy references."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
from scipy.optimize import minimize

from spark_prune.core.quotas import (
    InfeasibleTargetError,
    cluster_probabilities,
    complexity,
    inter_cluster_distance,
    lower_bounds,
    project_to_quotas,
    solve_quotas,
)


def qp_reference(target: int, p: np.ndarray, sizes: np.ndarray, lower: np.ndarray) -> np.ndarray:
    """A general-purpose QP solver (SLSQP) on min ½‖x − N·P‖², Σx = N, lb ≤ x ≤ M."""
    a = target * p
    start = np.clip(np.full(p.size, target / p.size), lower, sizes).astype(float)
    result = minimize(
        lambda v: 0.5 * np.sum((v - a) ** 2),
        start,
        jac=lambda v: v - a,
        bounds=list(zip(lower, sizes, strict=True)),
        constraints=[
            {"type": "eq", "fun": lambda v: v.sum() - target, "jac": lambda v: np.ones_like(v)}
        ],
        method="SLSQP",
        options={"ftol": 1e-14, "maxiter": 1000},
    )
    # SLSQP may stop with "positive directional derivative" at the optimum; feasibility is
    # checked by the caller through the objective comparison.
    return np.asarray(result.x)


def assert_kkt(x: np.ndarray, a: np.ndarray, lower: np.ndarray, sizes: np.ndarray) -> None:
    """Optimality of the projection: one ν with x − a = −ν inside, ≤ −ν at caps, ≥ −ν at floors."""
    g = x - a
    interior = (x > lower + 1e-9) & (x < sizes - 1e-9)
    at_cap = x >= sizes - 1e-9
    at_floor = (x <= lower + 1e-9) & ~at_cap
    nu_high = float(np.min(-g[at_cap], initial=np.inf))  # capped: a − ν ≥ M
    nu_low = float(np.max(-g[at_floor], initial=-np.inf))  # floored: a − ν ≤ lb
    if interior.any():
        assert np.ptp(g[interior]) < 1e-7
        nu = -g[interior][0]
        assert nu_low - 1e-7 <= nu <= nu_high + 1e-7
    else:
        assert nu_low <= nu_high + 1e-7


def random_instance(
    rng: np.random.Generator, k: int
) -> tuple[int, np.ndarray, np.ndarray, np.ndarray]:
    sizes = rng.integers(1, 60, size=k)
    if rng.random() < 0.3:
        sizes[rng.integers(0, k)] = 1  # singleton clusters: lower bound 0
    c = rng.random(k) * rng.choice([0.01, 0.1, 1.0])
    if rng.random() < 0.3:
        c[: k // 2] = c[0]  # exact ties in complexity
    p = cluster_probabilities(c, rng.choice([0.01, 0.1, 0.5]))
    lower = lower_bounds(sizes, 0)
    target = int(rng.integers(lower.sum(), sizes.sum() + 1))
    return target, p, sizes, lower_bounds(sizes, target)


@pytest.mark.parametrize("seed", range(6))
def test_projection_matches_general_qp_solver(seed: int) -> None:
    rng = np.random.default_rng(seed)
    for _ in range(40):
        target, p, sizes, lower = random_instance(rng, int(rng.integers(1, 25)))
        exact = project_to_quotas(float(target), p, sizes, lower)
        reference = qp_reference(target, p, sizes, lower)
        assert exact.sum() == pytest.approx(target, abs=1e-6)
        assert np.all(exact >= lower - 1e-9) and np.all(exact <= sizes + 1e-9)
        assert_kkt(exact, target * p, lower, sizes)
        objective = 0.5 * np.sum((exact - target * p) ** 2)
        if abs(reference.sum() - target) < 1e-6:  # the general solver converged to a feasible x
            ref_objective = 0.5 * np.sum((reference - target * p) ** 2)
            assert objective <= ref_objective * (1 + 1e-9) + 1e-6


def test_capped_overflow_is_taken_evenly_not_proportionally() -> None:
    # cluster 0 wants 90 of 100 but holds 10; the 80 overflow goes equally to the other two
    p = np.array([0.9, 0.08, 0.02])
    sizes = np.array([10, 100, 100])
    x = project_to_quotas(100.0, p, sizes, np.array([1, 1, 1]))
    np.testing.assert_allclose(x, [10, 8 + 40, 2 + 40])


def brute_force_integer(target: int, p: np.ndarray, sizes: np.ndarray, lower: np.ndarray) -> float:
    """Smallest ½‖q − N·P‖² over all integer q in the box with Σq = N."""
    best = np.inf
    ranges = [range(int(lo), int(hi) + 1) for lo, hi in zip(lower, sizes, strict=True)]
    for q in itertools.product(*ranges):
        if sum(q) == target:
            best = min(best, 0.5 * float(np.sum((np.array(q) - target * p) ** 2)))
    return best


def test_integer_quotas_sum_exactly_and_are_optimal() -> None:
    rng = np.random.default_rng(7)
    for _ in range(150):
        k = int(rng.integers(1, 5))
        sizes = rng.integers(1, 7, size=k)
        p = cluster_probabilities(rng.random(k), 0.2)
        lower = lower_bounds(sizes, 0)
        target = int(rng.integers(lower.sum(), sizes.sum() + 1))
        q = solve_quotas(target, p, sizes, lower)
        assert q.sum() == target
        assert np.all(q >= lower) and np.all(q <= sizes)
        cost = 0.5 * float(np.sum((q - target * p) ** 2))
        assert cost == pytest.approx(brute_force_integer(target, p, sizes, lower), abs=1e-9)


def test_large_k_is_exact() -> None:
    rng = np.random.default_rng(3)
    sizes = rng.integers(1, 5000, size=5000)
    p = cluster_probabilities(rng.random(5000), 0.1)
    target = int(sizes.sum() * 0.3)
    q = solve_quotas(target, p, sizes, lower_bounds(sizes, target))
    assert q.sum() == target and np.all(q <= sizes)


@pytest.mark.parametrize("target", [0, 2, 10_000])
def test_infeasible_targets_are_clear_errors(target: int) -> None:
    sizes = np.array([5, 5, 5, 1])
    with pytest.raises(InfeasibleTargetError, match="target of"):
        solve_quotas(target, np.full(4, 0.25), sizes, lower_bounds(sizes, target))


def test_balance_ratio_lower_bounds() -> None:
    sizes = np.array([1, 2, 50, 100])
    np.testing.assert_array_equal(lower_bounds(sizes, 100, 0.0), [0, 1, 1, 1])
    np.testing.assert_array_equal(lower_bounds(sizes, 100, 0.5), [0, 1, 12, 12])


def test_softmax_is_stable_for_large_inputs() -> None:
    p = cluster_probabilities(np.array([1000.0, 1000.0, 999.0]), 0.01)
    assert np.all(np.isfinite(p)) and p.sum() == pytest.approx(1.0)
    assert p[0] == pytest.approx(0.5)
    np.testing.assert_allclose(
        cluster_probabilities(np.array([0.1, 0.3]), 0.1), np.exp([1, 3]) / np.exp([1, 3]).sum()
    )


def test_d_inter_excludes_self_by_index_even_with_duplicate_centroids() -> None:
    rng = np.random.default_rng(0)
    c = rng.standard_normal((6, 8))
    c /= np.linalg.norm(c, axis=1, keepdims=True)
    c[1] = c[0]  # duplicate centroid: its distance to 0 is 0 and must count as a neighbour
    got = inter_cluster_distance(c, num_neighbors=2)
    for j in range(6):
        others = sorted(1 - float(c[j] @ c[i]) for i in range(6) if i != j)
        assert got[j] == pytest.approx(np.mean(others[:2]), abs=1e-12)
    assert got[0] == pytest.approx(np.mean(sorted(1 - c[0] @ c[i] for i in range(1, 6))[:2]))
    # l >= k caps at k - 1; a lone centroid has d_inter 0
    np.testing.assert_allclose(inter_cluster_distance(c, 50), inter_cluster_distance(c, 5))
    assert inter_cluster_distance(c[:1], 20)[0] == 0.0


def test_complexity_is_a_product() -> None:
    np.testing.assert_allclose(complexity(np.array([0.5, 2.0]), np.array([0.2, 0.0])), [0.1, 0.0])
