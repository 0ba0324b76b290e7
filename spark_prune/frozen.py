"""Frozen centroids: an earlier run's k-means centroids instead of a new fit
(``dbp.kmeans.centroids_from`` / ``semdedup.kmeans.centroids_from``).

DBP's centroids are the ``clusters`` table of the run (its non-empty clusters, with their ids),
SemDeDup's the ``semdedup_clusters`` table (all k). Only those k rows come to the driver.
A run with a different embedding dimension or k is a one-line ``ConfigError`` naming the key.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
from pyspark.sql import DataFrame, SparkSession

from spark_prune import contract
from spark_prune.config import ConfigError
from spark_prune.driver_tables import driver_frame
from spark_prune.errors import UserError
from spark_prune.runs import OpenRun, open_run

# where each k-means keeps its centroids in a run, and where the run's manifest records k
SOURCES = {
    "dbp": (contract.CLUSTERS, ("kmeans", "dbp", "k")),
    "semdedup": (contract.SEMDEDUP_CLUSTERS, ("semdedup", "k")),
}


@dataclass(frozen=True)
class FrozenCentroids:
    """The stored centroids: ``ids[i]`` is the cluster id of row ``i`` of ``vectors``."""

    ids: np.ndarray  # int32, ascending
    vectors: np.ndarray  # (len(ids), d) float32, unit norm
    sizes: np.ndarray  # rows per stored cluster in that run
    k: int  # the k of the run's fit (clusters that were empty there have no stored centroid)
    source: dict[str, Any]

    @property
    def dim(self) -> int:
        return int(self.vectors.shape[1])

    def dense(self) -> np.ndarray:
        """A (k, d) matrix indexed by cluster id; absent clusters are NaN rows (never used:
        no row is assigned to them)."""
        out = np.full((self.k, self.dim), np.nan, dtype=np.float32)
        out[self.ids] = self.vectors
        return out

    def expected_sizes(self, n_rows: int) -> np.ndarray:
        """Rows per cluster id expected among ``n_rows`` (the stored sizes, scaled)."""
        out = np.zeros(self.k, dtype=np.float64)
        out[self.ids] = self.sizes * (n_rows / max(int(self.sizes.sum()), 1))
        return out

    def describe(self) -> dict[str, Any]:
        """The k-means section of the manifest: where the centroids came from."""
        return {
            "k": self.k,
            "dim": self.dim,
            "method": "frozen",
            "stored_centroids": len(self.ids),
            **self.source,
        }


def load_centroids(
    spark: SparkSession, location: str, stage: str, key: str, dim: int, k: int | None
) -> FrozenCentroids:
    """The centroids stage ``stage`` (``dbp`` or ``semdedup``) stored in the run at
    ``location``; ``key`` is the config key that named it, ``k`` the configured k (None: any)."""
    table_name, k_path = SOURCES[stage]
    run = _open(spark, location, key)
    if table_name not in run.outputs:
        raise ConfigError(
            f"{key}: run {location!r} has no {table_name} table (written before "
            f"runs stored it); give a newer run"
        )
    rows = (
        run.table(table_name)
        .select(contract.CLUSTER_ID, contract.CENTROID, "size")
        .orderBy(contract.CLUSTER_ID)
        .collect()  # k rows
    )
    if not rows:
        raise ConfigError(
            f"{key}: run {location!r} stored no {stage} centroids (its {table_name} "
            f"table is empty: {stage} did not run there)"
        )
    ids = np.array([r[contract.CLUSTER_ID] for r in rows], dtype=np.int32)
    vectors = np.array([r[contract.CENTROID] for r in rows], dtype=np.float32)
    sizes = np.array([r["size"] for r in rows], dtype=np.int64)
    stored_k = _recorded_k(run, k_path, int(ids.max()) + 1)
    if vectors.shape[1] != dim:
        raise ConfigError(
            f"{key}: run {location!r} has {vectors.shape[1]}-dimensional centroids "
            f"but the input's embeddings have {dim} dimensions"
        )
    if k is not None and k != stored_k:
        k_key = key.rsplit(".", 1)[0] + ".k"
        raise ConfigError(
            f"{key}: run {location!r} has k={stored_k} centroids but {k_key} is "
            f"{k}; set {k_key}={stored_k}"
        )
    source = {
        "centroids_from": location,
        "centroids_run_id": run.run_id,
        "centroids_table": table_name,
        "centroids_delta_version": run.outputs[table_name].get("delta_version"),
    }
    return FrozenCentroids(ids, vectors, sizes, stored_k, source)


def _open(spark: SparkSession, location: str, key: str) -> OpenRun:
    try:
        return open_run(spark, location, named_by=f"{key}: run")
    except UserError as exc:
        raise ConfigError(str(exc)) from None


def _recorded_k(run: OpenRun, path: tuple[str, ...], at_least: int) -> int:
    """k as the run's manifest records it (at least the highest stored id + 1)."""
    node: Any = run.manifest
    for part in path:
        node = node.get(part) if isinstance(node, dict) else None
    return max(int(node), at_least) if isinstance(node, int) else at_least


def centroids_frame(
    spark: SparkSession, ids: np.ndarray, vectors: np.ndarray, sizes: dict[int, int]
) -> DataFrame:
    """The ``semdedup_clusters`` table: every centroid (k rows) with its rows in this run."""
    ids = np.asarray(ids, dtype=np.int32)
    columns = {
        contract.CLUSTER_ID: ids,
        contract.CENTROID: np.asarray(vectors, dtype=np.float32),
        "size": np.array([sizes.get(int(c), 0) for c in ids], dtype=np.int64),
    }
    return driver_frame(spark, columns, contract.SEMDEDUP_CLUSTERS_SCHEMA)
