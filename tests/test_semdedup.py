"""SemDeDup on Spark (semdedup.py) against a plain numpy run of the same rule on the stage's own
clusters (the numpy kernel is tested in test_core_semdedup_kernel.py)."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import numpy as np
import pandas as pd
import pytest
from pyspark.sql import SparkSession
from pyspark.sql import functions as F

from spark_prune.config import KeepByConfig, SemDedupConfig, SemDedupKMeansConfig
from spark_prune.core.semdedup_kernel import removed_mask
from spark_prune.core.vectors import l2_normalize
from spark_prune.errors import InputError
from spark_prune.order_columns import hash_key
from spark_prune.semdedup import apply_eps, default_k, semdedup, semdedup_removed
from tests.helpers import near_copies, unit
from tests.reference import brute_force


def sort_key(order: str, dist: float, row_id: Any, key: int | None) -> tuple[Any, ...]:
    if order == "hard":
        return (-dist, row_id)
    if order == "easy":
        return (dist, row_id)
    return (key, row_id)


def reference_stage(
    frame: pd.DataFrame, x_by_id: dict[Any, np.ndarray], order: str, keys: dict[Any, int]
) -> dict[Any, tuple[float, Any]]:
    """The rule in plain numpy on the stage's own clusters and distances: id -> (sim, partner)."""
    out: dict[Any, tuple[float, Any]] = {}
    for _, group in frame.groupby("semdedup_cluster_id"):
        rows = sorted(
            zip(group["id"], group["semdedup_dist"], strict=True),
            key=lambda r: sort_key(order, r[1], r[0], keys.get(r[0])),
        )
        ordered = [r[0] for r in rows]
        best, partner = brute_force(l2_normalize(np.stack([x_by_id[i] for i in ordered])))
        for pos, row_id in enumerate(ordered):
            out[row_id] = (best[pos], None if partner[pos] < 0 else ordered[partner[pos]])
    return out


def assert_matches_reference(
    result: pd.DataFrame, x_by_id: dict[Any, np.ndarray], order: str, keys: dict[Any, int]
) -> None:
    expected = reference_stage(result, x_by_id, order, keys)
    got = {
        r.id: (r.semdedup_max_sim, r.semdedup_partner)
        for r in result[["id", "semdedup_max_sim", "semdedup_partner"]].itertuples()
    }
    for row_id, (best, partner) in expected.items():
        sim, got_partner = got[row_id]
        if partner is None:
            assert pd.isna(sim) and pd.isna(got_partner), row_id
        else:
            assert (got_partner, sim) == (partner, best), row_id


def planted(n: int, d: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    x = unit(rng, n, d)
    x[n - 60 :] = near_copies(rng, x[:60], 0.02)
    x[n - 70 : n - 60] = x[100:110]  # exact copies
    return np.arange(n, dtype=np.int64) * 7, x  # ids need not be dense


def embeddings_frame(spark: SparkSession, ids: list[Any], x: np.ndarray, id_type: str) -> Any:
    rows = [(i, [float(v) for v in vec]) for i, vec in zip(ids, x, strict=True)]
    return spark.createDataFrame(rows, f"id {id_type}, image_emb array<float>")


def test_spark_stage_matches_numpy_for_any_partitioning(spark: SparkSession) -> None:
    ids, x = planted(300, 8, seed=1)
    df = embeddings_frame(spark, ids.tolist(), x, "long")
    cfg = SemDedupConfig(enabled=True, eps=0.05, rows_per_cluster=60, block_size=16)
    frames = []
    for partitions in (1, 3, 8):
        shuffled = df.repartition(partitions, F.rand(partitions))  # rows arrive in another order
        assert shuffled.rdd.getNumPartitions() == partitions
        result, info = semdedup(shuffled, cfg, "id", "image_emb", 8, 300)
        frames.append(result.orderBy("id").toPandas())
        result.unpersist()
    first = frames[0]
    assert list(first.columns) == [
        "id",
        "semdedup_cluster_id",
        "semdedup_dist",
        "semdedup_max_sim",
        "semdedup_partner",
    ]
    assert len(first) == 300 and sorted(first["id"]) == sorted(ids)  # no row lost or repeated
    for other in frames[1:]:
        pd.testing.assert_frame_equal(other, first)
    assert_matches_reference(first, dict(zip(ids.tolist(), x, strict=True)), "hard", {})
    removed = removed_mask(first["semdedup_max_sim"].to_numpy(), cfg.eps)
    assert removed.sum() >= 65  # the planted copies
    assert cfg.kmeans.k == "auto" and info["k"] == 5  # auto: 300 rows / 60 per cluster
    assert info["kmeans"]["k"] == 5 and info["eps"] == 0.05 and info["removed"] == removed.sum()
    sizes = first.groupby("semdedup_cluster_id").size()
    assert info["largest_cluster_rows"] == sizes.max() and info["rows"] == 300
    assert info["similarity_dtype"] == "float32" and info["estimate_before_run"]["rows"] > 0


@pytest.mark.parametrize("order", ["easy", "random"])
def test_spark_stage_other_orders_and_string_ids(spark: SparkSession, order: str) -> None:
    num_ids, x = planted(200, 6, seed=2)
    ids = [f"row-{i}" for i in num_ids]
    df = embeddings_frame(spark, ids, x, "string").repartition(3)
    cfg = SemDedupConfig(
        enabled=True, eps=0.05, order=order, seed=7, kmeans=SemDedupKMeansConfig(k=3, iterations=10)
    )
    result, info = semdedup(df, cfg, "id", "image_emb", 6, 200)
    frame = result.toPandas()
    assert len(frame) == 200 and set(frame["id"]) == set(ids) and info["kmeans"]["k"] == 3
    keys = {r["id"]: r["k"] for r in df.select("id", hash_key("id", 7).alias("k")).collect()}
    assert_matches_reference(frame, dict(zip(ids, x, strict=True)), order, keys)
    result.unpersist()


def test_apply_eps_matches_numpy_rule(spark: SparkSession) -> None:
    eps = 0.07
    values = [None, 1 - eps, float(np.nextafter(1 - eps, 2)), 0.5, 1.0, float("nan")]
    df = spark.createDataFrame(
        [(i, v) for i, v in enumerate(values)], "id int, semdedup_max_sim double"
    )
    got = [r["semdedup_removed"] for r in apply_eps(df, eps).orderBy("id").collect()]
    expected = removed_mask(np.array([np.nan if v is None else v for v in values]), eps)
    assert got == expected.tolist() == [False, False, True, False, True, False]
    with pytest.raises(ValueError, match="eps"):
        semdedup_removed(F.col("semdedup_max_sim"), -0.1)
    with pytest.raises(ValueError, match="semdedup_max_sim"):
        apply_eps(df.drop("semdedup_max_sim"), eps)


def test_default_k_resolves_auto() -> None:
    auto = SemDedupConfig(rows_per_cluster=100)
    assert [default_k(auto, n) for n in (0, 1, 100, 101, 250)] == [1, 1, 1, 2, 3]
    fixed = SemDedupConfig(rows_per_cluster=100, kmeans=SemDedupKMeansConfig(k=7))
    assert default_k(fixed, 10_000) == 7
    fitted = auto.kmeans.with_k(default_k(auto, 250))
    assert (fitted.k, fitted.iterations, fitted.seed) == (3, 20, 1234)


def test_empty_input(spark: SparkSession) -> None:
    df = spark.createDataFrame([], "id long, image_emb array<float>")
    result, info = semdedup(df, SemDedupConfig(enabled=True), "id", "image_emb", 4, 0)
    assert result.count() == 0 and info["removed"] == 0
    assert result.columns[-1] == "semdedup_partner"


def test_stage_rejects_bad_settings(spark: SparkSession) -> None:
    df = spark.createDataFrame([(1, [1.0, 0.0])], "id long, image_emb array<float>")
    with pytest.raises(ValueError, match="'best'"):
        semdedup(df, SemDedupConfig(enabled=True, order="best"), "id", "image_emb", 2, 1)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match=r"semdedup\.eps"):
        semdedup(df, SemDedupConfig(enabled=True, eps=2.5), "id", "image_emb", 2, 1)
    with pytest.raises(ValueError, match="block_size"):
        semdedup(df, SemDedupConfig(enabled=True, block_size=0), "id", "image_emb", 2, 1)


# ---------------------------------------------------------------- keep_by


def test_keep_by_keeps_the_largest_value_of_a_duplicate_group(spark: SparkSession) -> None:
    ids, x = planted(240, 6, seed=4)
    resolution = np.random.default_rng(4).integers(1, 50, len(ids)).astype(float)
    resolution[::17] = np.nan  # nulls sort last
    rows = [
        (int(i), [float(v) for v in vec], None if np.isnan(r) else int(r))
        for i, vec, r in zip(ids, x, resolution, strict=True)
    ]
    df = spark.createDataFrame(rows, "id long, image_emb array<float>, pixels int").repartition(3)
    cfg = SemDedupConfig(
        enabled=True,
        eps=0.05,
        keep_by=KeepByConfig(column="pixels", order="desc"),
        kmeans=SemDedupKMeansConfig(k=3, iterations=10),
    )
    result, info = semdedup(df, cfg, "id", "image_emb", 6, 240)
    frame = result.toPandas()
    result.unpersist()
    value = dict(zip(ids.tolist(), resolution, strict=True))
    keys = {i: (np.isnan(v), 0.0 if np.isnan(v) else -v) for i, v in value.items()}
    assert_matches_reference(frame, dict(zip(ids.tolist(), x, strict=True)), "random", keys)
    removed = frame[removed_mask(frame["semdedup_max_sim"].to_numpy(), 0.05)]
    assert len(removed) >= 60
    for r in removed.itertuples():  # the survivor side of every pair has the larger value
        if not np.isnan(value[r.id]):
            assert value[r.semdedup_partner] >= value[r.id]
    assert info["keep_by"] == {"column": "pixels", "order": "desc"}
    with pytest.raises(InputError, match="semdedup.keep_by.column: no column 'px'"):
        semdedup(df, replace(cfg, keep_by=KeepByConfig(column="px")), "id", "image_emb", 6, 1)
    strings = df.withColumn("pixels", F.col("pixels").cast("string"))
    with pytest.raises(InputError, match="'pixels' is string, not a number"):
        semdedup(strings, cfg, "id", "image_emb", 6, 1)
