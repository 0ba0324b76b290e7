"""Exact, order-independent spherical Lloyd steps against a plain numpy Lloyd iteration."""

from __future__ import annotations

import numpy as np

from spark_prune.core.lloyd import (
    FIXED_POINT_SCALE,
    mean_cosine,
    partial_sums,
    to_fixed_point,
    update_centroids,
)
from spark_prune.core.vectors import l2_normalize


def unit(rng: np.random.Generator, n: int, d: int) -> np.ndarray:
    return l2_normalize(rng.standard_normal((n, d)).astype(np.float32))


def plain_lloyd_step(x: np.ndarray, centroids: np.ndarray) -> tuple[np.ndarray, float]:
    """Textbook spherical step in float64: argmax assignment, normalised sums, empty keeps."""
    sims = x.astype(np.float64) @ centroids.astype(np.float64).T
    label = sims.argmax(axis=1)
    new = centroids.astype(np.float64).copy()
    for j in range(len(centroids)):
        members = x[label == j].astype(np.float64)
        if len(members):
            total = members.sum(axis=0)
            new[j] = total / np.linalg.norm(total)
    return new, float(sims.max(axis=1).mean())


def total_sums(x: np.ndarray, centroids: np.ndarray, parts: list[np.ndarray]) -> tuple:
    k, d = centroids.shape
    counts, sims, sums = np.zeros(k, np.int64), np.zeros(k, np.int64), np.zeros((k, d), np.int64)
    for rows in parts:
        cluster, c, s, v = partial_sums(x[rows], centroids)
        counts[cluster] += c
        sims[cluster] += s
        sums[cluster] += v
    return counts, sims, sums


def test_sums_do_not_depend_on_the_split_or_order() -> None:
    rng = np.random.default_rng(0)
    x, centroids = unit(rng, 500, 12), unit(rng, 7, 12)
    whole = total_sums(x, centroids, [np.arange(500)])
    perm = rng.permutation(500)
    for cut in ([250], [1, 2, 3, 499], list(range(10, 500, 37))):
        parts = np.split(perm, cut)
        other = total_sums(x, centroids, parts)
        for a, b in zip(whole, other, strict=True):
            np.testing.assert_array_equal(a, b)  # exact, not close
    assert whole[0].sum() == 500


def test_step_matches_plain_numpy_lloyd() -> None:
    rng = np.random.default_rng(1)
    x = unit(rng, 400, 8)
    c_fixed = c_plain = x[:6].copy()
    for _ in range(10):
        counts, sims, sums = total_sums(x, c_fixed, [np.arange(400)])
        c_fixed = update_centroids(c_fixed, np.arange(6), counts, sums)
        c_plain, objective = plain_lloyd_step(x, c_plain)
        np.testing.assert_allclose(c_fixed, c_plain, atol=1e-6)
        assert abs(mean_cosine(400, int(sims.sum())) - objective) < 1e-6


def test_empty_cluster_keeps_its_centroid() -> None:
    x = np.array([[1, 0], [0.8, 0.6]], np.float32)
    centroids = np.array([[1, 0], [-1, 0], [0, 1]], np.float32)  # cluster 1 gets no row
    cluster, counts, _, sums = partial_sums(x, centroids)
    assert cluster.tolist() == [0] and counts.tolist() == [2]
    new = update_centroids(centroids, cluster, counts, sums)
    np.testing.assert_array_equal(new[1:], centroids[1:])
    np.testing.assert_allclose(new[0], l2_normalize(np.array([[1.8, 0.6]]))[0], atol=1e-7)
    empty = partial_sums(np.zeros((0, 2), np.float32), centroids)
    assert empty[3].shape == (0, 2)


def test_fixed_point_is_exact_at_the_scale() -> None:
    values = np.array([1.0, -1.0, 0.5, 2.0**-33, -(2.0**-31)])
    assert to_fixed_point(values).tolist() == [2**32, -(2**32), 2**31, 0, -2]
    assert FIXED_POINT_SCALE == 2**32
