"""Density-based pruning (dbp.py): statistics, quotas and selection against the plain numpy
reference, and the strategies / within-cluster rules (the strategies through whole runs:
test_plans and test_evaluate)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import types as T

from spark_prune.config import DBPConfig
from spark_prune.contract import CLUSTERS_SCHEMA
from spark_prune.core.vectors import l2_normalize
from spark_prune.dbp import (
    cluster_stats,
    clusters_frame,
    finish_cluster_table,
    plan_quotas,
    select_rows,
    target_count,
)
from tests import reference
from tests.helpers import embedding_rows

ASSIGNED = T.StructType(
    [
        T.StructField("id", T.LongType(), False),
        T.StructField("cluster_id", T.IntegerType(), False),
        T.StructField("dist", T.DoubleType(), False),
    ]
)


@pytest.fixture(scope="module")
def small() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    ids, x = embedding_rows(240, 8, 4, seed=21)
    centroids = l2_normalize(x[[0, 60, 120, 180, 200]].astype(np.float32))
    return ids, x, centroids


def assigned_frame(
    spark: SparkSession, ids: np.ndarray, cluster: np.ndarray, dist: np.ndarray, parts: int
) -> DataFrame:
    rows = [(int(i), int(c), float(d)) for i, c, d in zip(ids, cluster, dist, strict=True)]
    return spark.createDataFrame(rows, ASSIGNED).repartition(parts)


def test_target_count_rounds_half_up() -> None:
    assert target_count(DBPConfig(keep_fraction=0.5), 5) == 3
    assert target_count(DBPConfig(keep_fraction=0.3), 10) == 3
    assert target_count(DBPConfig(keep_fraction=None, keep_count=7), 1000) == 7


def test_stats_quotas_and_selection_match_numpy(spark: SparkSession, small) -> None:  # type: ignore[no-untyped-def]
    ids, x, centroids = small
    ref = reference.dbp(ids, x, centroids, keep=100, tau=0.1, neighbours=2)
    cfg = DBPConfig(keep_fraction=None, keep_count=100, num_neighbors=2)
    assigned = assigned_frame(spark, ids, ref["cluster"], ref["dist"], 3)
    stats = cluster_stats(assigned)
    assert stats["cluster_id"].tolist() == ref["clusters"]
    np.testing.assert_array_equal(stats["size"], ref["size"])
    np.testing.assert_allclose(stats["d_intra"], ref["d_intra"], rtol=1e-12)
    plan = plan_quotas(stats, centroids, cfg, target_count(cfg, len(ids)))
    np.testing.assert_allclose(plan.clusters["d_inter"], ref["d_inter"], rtol=1e-6)
    np.testing.assert_allclose(plan.clusters["complexity"], ref["complexity"], rtol=1e-6)
    np.testing.assert_allclose(plan.clusters["p"], ref["p"], rtol=1e-6)
    np.testing.assert_array_equal(plan.clusters["quota"], ref["quota"])
    selected = select_rows(spark, assigned, plan, cfg, "id").toPandas()
    assert sorted(selected.loc[selected["kept"], "id"]) == ref["kept"]
    for _, group in selected.groupby("cluster_id"):
        ranked = group.sort_values("rank_in_cluster")
        assert ranked["rank_in_cluster"].tolist() == list(range(len(group)))
        expected = group.sort_values(["dist", "id"], ascending=[False, True])["id"]
        assert ranked["id"].tolist() == expected.tolist()
    table = finish_cluster_table(plan, select_rows(spark, assigned, plan, cfg, "id"), centroids)
    np.testing.assert_array_equal(table["kept"], table["quota"])
    assert (table["capped"] == (table["quota"] >= table["size"])).all()
    np.testing.assert_allclose(np.stack(table["centroid"]), centroids[table["cluster_id"]])
    assert clusters_frame(spark, table).schema == CLUSTERS_SCHEMA


def test_cluster_stats_do_not_depend_on_partitioning(spark: SparkSession, small) -> None:  # type: ignore[no-untyped-def]
    ids, x, centroids = small
    cluster, dist = reference.assign(x, centroids)
    one = cluster_stats(assigned_frame(spark, ids, cluster, dist, 1))
    many = cluster_stats(assigned_frame(spark, ids[::-1], cluster[::-1], dist[::-1], 7))
    assert one.equals(many)


def test_global_rules_fill_quotas_after_selection(spark: SparkSession, small) -> None:  # type: ignore[no-untyped-def]
    ids, x, centroids = small
    cluster, dist = reference.assign(x, centroids)
    assigned = assigned_frame(spark, ids, cluster, dist, 2)
    cfg = DBPConfig(strategy="ssp", keep_fraction=0.25)
    plan = plan_quotas(cluster_stats(assigned), centroids, cfg, target_count(cfg, len(ids)))
    assert plan.clusters["quota"].sum() == 0 and plan.clusters["quota_continuous"].isna().all()
    selected = select_rows(spark, assigned, plan, cfg, "id")
    kept = sorted(selected.filter("kept").toPandas()["id"])
    hardest = sorted(ids[np.lexsort((ids, -dist))][:60].tolist())
    assert kept == hardest
    table = finish_cluster_table(plan, selected, centroids)
    assert table["quota"].tolist() == table["kept"].tolist() and table["kept"].sum() == 60


def test_strategies_and_within_cluster_rules(spark: SparkSession, small) -> None:  # type: ignore[no-untyped-def]
    ids, x, centroids = small
    cluster, dist = reference.assign(x, centroids)
    assigned = assigned_frame(spark, ids, cluster, dist, 3)
    stats = cluster_stats(assigned)

    def choose(**options: object) -> tuple[pd.DataFrame, pd.DataFrame]:
        cfg = DBPConfig(**options)  # type: ignore[arg-type]
        plan = plan_quotas(stats, centroids, cfg, target_count(cfg, len(ids)))
        selected = select_rows(spark, assigned, plan, cfg, "id")
        return selected.toPandas(), finish_cluster_table(plan, selected, centroids)

    uniform, table = choose(strategy="uniform")
    np.testing.assert_allclose(table["p"], 1 / len(table))
    assert uniform["kept"].sum() == len(ids) // 2
    easy, _ = choose(within_cluster="easy", keep_count=100, keep_fraction=None)
    assert easy["kept"].sum() == 100
    for _, group in easy.groupby("cluster_id"):
        kept, dropped = group[group["kept"]], group[~group["kept"]]
        if len(kept) and len(dropped):
            assert kept["dist"].max() <= dropped["dist"].min()
    rnd, table = choose(strategy="random")
    assert rnd["kept"].sum() == len(ids) // 2 and (table["quota"] == table["kept"]).all()
    again, _ = choose(strategy="random")
    assert sorted(again.loc[again["kept"], "id"]) == sorted(rnd.loc[rnd["kept"], "id"])  # seeded
