"""Nearest-centroid assignment in numpy: the one formula DBP and SemDeDup share."""

from __future__ import annotations

import numpy as np

# Bound on the (rows x centroids) similarity block held at once, in float32 entries.
MAX_BLOCK_ENTRIES = 32 * 1024 * 1024


def nearest_centroids(x: np.ndarray, centroids: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """For unit rows ``x`` and unit ``centroids``: (cluster id, cosine distance 1 - <x, c>).

    Ties go to the lowest cluster id (argmax returns the first maximum). The product runs in
    float64 and is rounded to float32: BLAS picks different kernels (and summation orders) for
    different batch shapes, and the rounding makes every row's result independent of the batch
    it arrived in, so decisions do not depend on partitioning. 1 - s is formed in float64.
    """
    n = x.shape[0]
    ids = np.empty(n, dtype=np.int32)
    sims = np.empty(n, dtype=np.float32)
    step = max(1, MAX_BLOCK_ENTRIES // max(1, centroids.shape[0]))
    ct = np.ascontiguousarray(centroids.T, dtype=np.float64)
    for start in range(0, n, step):
        s = (x[start : start + step].astype(np.float64) @ ct).astype(np.float32)
        best = s.argmax(axis=1)
        ids[start : start + step] = best
        sims[start : start + step] = s[np.arange(s.shape[0]), best]
    return ids, 1.0 - sims.astype(np.float64)
