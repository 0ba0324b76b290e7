"""Density-based pruning over assigned rows: cluster statistics, quotas, per-cluster selection.

Rows arrive as ``id, cluster_id, dist``; only the k-row cluster table comes to the driver.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
from pyspark.sql import DataFrame, SparkSession, Window
from pyspark.sql import functions as F
from pyspark.sql import types as T

from spark_prune.config import DBPConfig
from spark_prune.contract import CLUSTERS_SCHEMA, RANK_IN_CLUSTER
from spark_prune.core.quotas import (
    check_feasible,
    cluster_probabilities,
    complexity,
    inter_cluster_distance,
    lower_bounds,
    project_to_quotas,
    round_quotas,
)
from spark_prune.driver_tables import driver_frame
from spark_prune.errors import InfeasibleTargetError
from spark_prune.hierarchical import plan_hierarchical
from spark_prune.order_columns import hash_key, order_key
from spark_prune.topn import top_n_flag

# Strategies whose quotas are set per cluster before selection (the others are global rules).
PER_CLUSTER = ("dbp", "uniform", "hierarchical")

# Exact, order-independent sum of distances: decimal addition is associative, doubles are not,
# so d_intra (and every quota) is the same whatever the partitioning.
EXACT_SUM_TYPE = "decimal(38,18)"
RANDOM_KEY = "_random_key"


def target_count(cfg: DBPConfig, n_rows: int) -> int:
    """N: the number of rows DBP keeps out of the n_rows entering it."""
    if cfg.keep_count is not None:
        if cfg.keep_count > n_rows:
            raise InfeasibleTargetError(
                f"dbp.keep_count {cfg.keep_count} exceeds the {n_rows} rows left for DBP after "
                f"the earlier stages; lower dbp.keep_count or use dbp.keep_fraction"
            )
        return cfg.keep_count
    assert cfg.keep_fraction is not None
    return int(math.floor(cfg.keep_fraction * n_rows + 0.5))


def cluster_stats(assigned: DataFrame) -> pd.DataFrame:
    """Per non-empty cluster: size and d_intra (mean distance to the centroid), on Spark."""
    rows = (
        assigned.groupBy("cluster_id")
        .agg(F.count("*").alias("size"), F.sum(F.col("dist").cast(EXACT_SUM_TYPE)).alias("_sum"))
        .orderBy("cluster_id")
        .collect()
    )
    frame = pd.DataFrame(
        {
            "cluster_id": np.array([r["cluster_id"] for r in rows], dtype=np.int32),
            "size": np.array([r["size"] for r in rows], dtype=np.int64),
            "dist_sum": np.array([float(r["_sum"]) for r in rows], dtype=np.float64),
        }
    )
    frame["d_intra"] = frame["dist_sum"] / frame["size"].clip(lower=1)
    return frame.drop(columns="dist_sum")


@dataclass(frozen=True)
class QuotaPlan:
    clusters: pd.DataFrame  # cluster_id, size, d_intra, d_inter, complexity, p, quota, bounds
    target: int
    hierarchy: dict[str, Any] | None = None  # strategy hierarchical: the levels fitted


def plan_quotas(
    stats: pd.DataFrame, centroids: np.ndarray, cfg: DBPConfig, target: int
) -> QuotaPlan:
    """Complexity → softmax → exact QP projection → integer quotas summing to ``target``.

    Empty clusters are absent from ``stats`` and so drop out of d_inter too (method.md §2).
    For ``ssp`` and ``random`` the quotas are filled in after selection (global rules).
    ``hierarchical``: equal shares down a k-means hierarchy over the centroids
    (``spark_prune.hierarchical``); ``p`` is then the quota's share of the target.
    """
    frame = stats.sort_values("cluster_id").reset_index(drop=True).copy()
    sizes = frame["size"].to_numpy(np.int64)
    used = centroids[frame["cluster_id"].to_numpy()]
    frame["d_inter"] = inter_cluster_distance(used, cfg.num_neighbors)
    frame["complexity"] = complexity(frame["d_inter"].to_numpy(), frame["d_intra"].to_numpy())
    scores = frame["complexity"].to_numpy() if cfg.strategy == "dbp" else np.zeros(len(frame))
    frame["p"] = cluster_probabilities(scores, cfg.tau)
    lower = lower_bounds(sizes, target, cfg.balance_ratio)
    hierarchy = None
    if cfg.strategy == "hierarchical":
        check_feasible(target, np.zeros_like(sizes), sizes)
        quota, fitted = plan_hierarchical(used, sizes, cfg.hierarchy, cfg.kmeans.seed, target)
        hierarchy = fitted.describe()
        frame["p"] = quota / max(target, 1)
        frame["quota_continuous"] = quota.astype(np.float64)
        lower = np.zeros_like(sizes)
    elif cfg.strategy in ("dbp", "uniform"):
        check_feasible(target, lower, sizes)
        continuous = project_to_quotas(float(target), frame["p"].to_numpy(), sizes, lower)
        quota = round_quotas(continuous, target, sizes, lower)
        frame["quota_continuous"] = continuous
    else:
        check_feasible(target, np.zeros_like(sizes), sizes)
        quota = np.zeros_like(sizes)
        frame["quota_continuous"] = np.nan
    frame["lower_bound"] = lower
    frame["quota"] = quota
    return QuotaPlan(frame, target, hierarchy)


def select_rows(
    spark: SparkSession, assigned: DataFrame, plan: QuotaPlan, cfg: DBPConfig, id_col: str
) -> DataFrame:
    """``id, cluster_id, dist, rank_in_cluster, kept`` for every assigned row.

    rank_in_cluster is always by distance (0 = farthest, ties by id). Per-cluster rules keep
    the first ``quota`` rows in the configured order; ``ssp`` and ``random`` keep the first
    ``target`` rows overall, found by a distributed threshold search (:mod:`topn`), never a
    window over all rows in one partition. Windows are partitioned by cluster (one cluster is
    one task: fine for DBP's k of hundreds, not for a single cluster of billions of rows).
    """
    by_distance = Window.partitionBy("cluster_id").orderBy(*order_key("hard", id_col, cfg.seed))
    ranked = assigned.withColumn(RANK_IN_CLUSTER, F.row_number().over(by_distance) - 1)
    if cfg.strategy in PER_CLUSTER:
        joined = ranked.join(F.broadcast(_quota_table(spark, plan)), "cluster_id")
        if cfg.within_cluster == "hard":
            keep = F.col(RANK_IN_CLUSTER) < F.col("quota")
        else:
            order = Window.partitionBy("cluster_id").orderBy(
                *order_key(cfg.within_cluster, id_col, cfg.seed)
            )
            joined = joined.withColumn("_keep_rank", F.row_number().over(order) - 1)
            keep = F.col("_keep_rank") < F.col("quota")
        return joined.select(id_col, "cluster_id", "dist", RANK_IN_CLUSTER, keep.alias("kept"))
    total = int(plan.clusters["size"].sum())
    if cfg.strategy == "ssp":
        keep = top_n_flag(assigned, [("dist", False), (id_col, True)], plan.target, total, cfg.seed)
    else:  # random: the seeded hash order of the id (order_columns.order_key "random")
        ranked = ranked.withColumn(RANDOM_KEY, hash_key(id_col, cfg.seed))
        keyed = assigned.select(id_col, hash_key(id_col, cfg.seed).alias(RANDOM_KEY))
        spec = [(RANDOM_KEY, True), (id_col, True)]
        keep = top_n_flag(keyed, spec, plan.target, total, cfg.seed)
    return ranked.select(id_col, "cluster_id", "dist", RANK_IN_CLUSTER, keep.alias("kept"))


def _quota_table(spark: SparkSession, plan: QuotaPlan) -> DataFrame:
    """The k-row ``cluster_id, quota`` table (broadcast: it is k rows)."""
    return spark.createDataFrame(
        plan.clusters[["cluster_id", "quota"]].astype({"cluster_id": "int32", "quota": "int64"}),
        T.StructType(
            [T.StructField("cluster_id", T.IntegerType()), T.StructField("quota", T.LongType())]
        ),
    )


def finish_cluster_table(
    plan: QuotaPlan, selected: DataFrame, centroids: np.ndarray
) -> pd.DataFrame:
    """Add kept counts (and, for global rules, quotas = kept), bound flags and centroids."""
    counts = selected.filter("kept").groupBy("cluster_id").count().collect()
    kept = pd.DataFrame(
        {"cluster_id": [r["cluster_id"] for r in counts], "kept": [r["count"] for r in counts]},
        columns=["cluster_id", "kept"],
    ).astype({"cluster_id": "int32", "kept": "int64"})
    frame = plan.clusters.merge(kept, on="cluster_id", how="left")
    frame["kept"] = frame["kept"].fillna(0).astype(np.int64)
    if frame["quota_continuous"].isna().all():
        frame["quota"] = frame["kept"]
    frame["capped"] = frame["quota"] >= frame["size"]
    frame["at_lower_bound"] = frame["quota"] <= frame["lower_bound"]
    frame["centroid"] = list(centroids[frame["cluster_id"].to_numpy()].astype(np.float32))
    return frame


def clusters_frame(spark: SparkSession, clusters: pd.DataFrame) -> DataFrame:
    """The ``clusters`` table from the k-row frame ``finish_cluster_table`` built."""
    continuous = clusters["quota_continuous"].to_numpy(np.float64)
    columns: dict[str, Any] = {
        name: clusters[name].to_numpy() for name in CLUSTERS_SCHEMA.fieldNames()
    }
    columns["centroid"] = np.array(list(clusters["centroid"]), dtype=np.float32)
    columns["quota_continuous"] = pa.array(continuous, mask=np.isnan(continuous))
    return driver_frame(spark, columns, CLUSTERS_SCHEMA)


def plan_and_select(
    spark: SparkSession,
    assigned: DataFrame,
    stats: pd.DataFrame,
    centroids: np.ndarray,
    cfg: DBPConfig,
    id_col: str,
    n_rows: int,
) -> tuple[QuotaPlan, DataFrame]:
    """DBP after assignment, as ``run`` does it: target, quotas, then the kept rows.

    ``stats`` is :func:`cluster_stats` of ``assigned``; it depends only on the assignment, so
    ``spark-prune evaluate`` computes it once and calls this for every strategy and budget.
    """
    plan = plan_quotas(stats, centroids, cfg, target_count(cfg, n_rows))
    return plan, select_rows(spark, assigned, plan, cfg, id_col)
