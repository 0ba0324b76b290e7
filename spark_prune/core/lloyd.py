"""Spherical Lloyd steps whose sums do not depend on the order rows are added in.

A distributed Lloyd iteration sums each cluster's unit vectors over many partitions. Float sums
in another order differ in their last bits, and those bits can flip a later assignment, so the
sums here are exact: every component (a unit vector's lies in [-1, 1]) is rounded once to a
fixed-point integer, ``rint(v · 2³²)``, and int64 addition is associative. Any partitioning and
any reduction order give the same sums, hence the same centroids, bit for bit. The rounding
moves a centroid direction by at most ~2⁻³² per component, far below anything k-means can see;
int64 holds the sums of up to 2³¹ rows per cluster and iteration (Spark's ANSI ``sum`` raises
on overflow instead of wrapping).

One iteration: every row goes to its nearest centroid (``core.assign.nearest_centroids``, ties
to the lowest id); the new centroid is the normalised sum of its rows. A cluster that received
no row (or whose rows sum to zero) keeps its previous centroid: deterministic, and what faiss's
re-splitting would otherwise make depend on a random generator.
"""

from __future__ import annotations

import numpy as np

from spark_prune.core.assign import nearest_centroids

FIXED_POINT_SCALE = 2.0**32


def to_fixed_point(values: np.ndarray) -> np.ndarray:
    """``rint(values · 2³²)`` as int64 (values in [-1, 1])."""
    return np.rint(np.asarray(values, dtype=np.float64) * FIXED_POINT_SCALE).astype(np.int64)


def partial_sums(
    x: np.ndarray, centroids: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """One batch of unit rows against the centroids: for every cluster that got a row,
    (cluster ids, row counts, fixed-point sums of cosine similarities, fixed-point sums of
    the rows (clusters × d)), all int64 and exact."""
    if len(x) == 0:
        empty = np.zeros(0, dtype=np.int64)
        return empty, empty, empty, np.zeros((0, x.shape[1]), dtype=np.int64)
    cluster, dist = nearest_centroids(x, centroids)
    order = np.argsort(cluster, kind="stable")
    sorted_cluster = cluster[order]
    starts = np.flatnonzero(np.r_[True, sorted_cluster[1:] != sorted_cluster[:-1]])
    counts = np.diff(np.r_[starts, len(order)]).astype(np.int64)
    sims = np.add.reduceat(to_fixed_point(1.0 - dist[order]), starts)
    sums = np.add.reduceat(to_fixed_point(x[order]), starts, axis=0)
    return sorted_cluster[starts].astype(np.int64), counts, sims, sums


def update_centroids(
    previous: np.ndarray, cluster: np.ndarray, counts: np.ndarray, sums: np.ndarray
) -> np.ndarray:
    """New unit centroids from the total fixed-point sums of the clusters listed in
    ``cluster``; every other cluster (empty, or summing to zero) keeps its previous centroid."""
    new = np.array(previous, dtype=np.float32, copy=True)
    vectors = np.asarray(sums, dtype=np.float64) / FIXED_POINT_SCALE
    norms = np.linalg.norm(vectors, axis=1)
    ok = (np.asarray(counts) > 0) & (norms > 0)
    new[np.asarray(cluster)[ok]] = (vectors[ok] / norms[ok, None]).astype(np.float32)
    return new


def mean_cosine(total_rows: int, similarity_sum: int) -> float:
    """The spherical objective, mean cosine to the assigned centroid, from the exact sums."""
    return float(similarity_sum / FIXED_POINT_SCALE / total_rows) if total_rows else float("nan")
