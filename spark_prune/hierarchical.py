"""The k-means hierarchy of ``dbp.strategy: hierarchical`` (Vo et al., TMLR 2024).

Level 1 is DBP's clustering of the rows. Each further level is a spherical k-means (faiss,
seeded, ``dbp.hierarchy.iterations``) over the previous level's centroids, and every node
belongs to its nearest centroid one level up (``core.assign.nearest_centroids``, ties to the
lowest id). Only the k-row centroid tables are involved: this runs on the driver. Quotas then
come from ``core.hierarchical.hierarchical_quotas`` (equal shares per node, top-down).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import numpy as np

from spark_prune.config import HierarchyConfig, KMeansConfig
from spark_prune.core.assign import nearest_centroids
from spark_prune.core.hierarchical import hierarchical_quotas
from spark_prune.core.vectors import l2_normalize
from spark_prune.kmeans import fit_spherical_kmeans

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Hierarchy:
    """``parents[l][i]``: the level-(l+2) node of node i of level l+1; ``centroids[l]``: the
    centroids of level l+2."""

    parents: list[np.ndarray]
    centroids: list[np.ndarray]

    def describe(self) -> dict[str, object]:
        return {
            "levels": 1 + len(self.parents),
            "k_per_level": [int(c.shape[0]) for c in self.centroids],
            "nonempty_per_level": [int(np.unique(p).size) for p in self.parents],
        }


def fit_hierarchy(leaf_centroids: np.ndarray, cfg: HierarchyConfig, seed: int) -> Hierarchy:
    """Fit the levels above ``leaf_centroids`` (the non-empty DBP clusters, in cluster order)."""
    level = l2_normalize(np.ascontiguousarray(leaf_centroids, dtype=np.float32))
    parents: list[np.ndarray] = []
    centroids: list[np.ndarray] = []
    for i, k in enumerate(cfg.k):
        if k > level.shape[0]:
            log.warning("dbp.hierarchy.k[%d] = %d is more than the %d clusters below it: the "
                        "level is fitted with %d (a level that groups nothing)", i, k,
                        level.shape[0], level.shape[0])  # fmt: skip
        km_cfg = KMeansConfig(
            k=max(1, min(k, level.shape[0])), iterations=cfg.iterations, seed=seed
        )
        upper = fit_spherical_kmeans(level, km_cfg).centroids
        parent, _ = nearest_centroids(level, upper)
        parents.append(parent.astype(np.int64))
        centroids.append(upper)
        level = upper
    return Hierarchy(parents, centroids)


def plan_hierarchical(
    leaf_centroids: np.ndarray, sizes: np.ndarray, cfg: HierarchyConfig, seed: int, target: int
) -> tuple[np.ndarray, Hierarchy]:
    """Per-leaf quotas summing to ``target`` and the hierarchy they came from."""
    hierarchy = fit_hierarchy(leaf_centroids, cfg, seed)
    return hierarchical_quotas(sizes, hierarchy.parents, target), hierarchy
