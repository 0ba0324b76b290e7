"""Incremental runs give exactly what a full run with the previous run's centroids gives."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from pyspark.sql import SparkSession

from spark_prune import contract
from spark_prune.config import ConfigError
from spark_prune.config_loader import config_from_dict
from spark_prune.incremental import quantile_upper_bound, resolve
from spark_prune.pipeline import run
from spark_prune.runs import open_run
from tests.helpers import SCHEMA, embedding_rows
from tests.incremental_fixture import BLOBS, DIM, Scenario

pytestmark = pytest.mark.slow  # run first under xdist (tests/conftest.py)


def same(s: Scenario, incremental, full) -> None:  # type: ignore[no-untyped-def]
    for name in (contract.DECISIONS, contract.PRUNED):
        pd.testing.assert_frame_equal(s.table(incremental, name), s.table(full, name))


def test_a_frozen_run_uses_and_records_the_earlier_centroids(
    incremental_scenario: Scenario,
) -> None:
    s = incremental_scenario
    a, full = s.a, s.full_v1
    for section in (full.manifest["kmeans"]["dbp"], full.manifest["semdedup"]["kmeans"]):
        assert section["method"] == "frozen" and section["centroids_from"] == s.path(a)
        assert section["centroids_run_id"] == a.run_id and section["k"] == BLOBS
    stored = s.table(a, contract.SEMDEDUP_CLUSTERS).sort_values("cluster_id")
    assert stored["cluster_id"].tolist() == list(range(BLOBS))
    assert stored["size"].sum() == a.manifest["semdedup"]["rows"]
    again = s.table(full, contract.SEMDEDUP_CLUSTERS).sort_values("cluster_id")
    assert np.array_equal(np.stack(again["centroid"]), np.stack(stored["centroid"]))
    before, after = s.table(a, contract.CLUSTERS), s.table(full, contract.CLUSTERS)
    common = before.merge(after, on="cluster_id")
    assert len(common) == len(before)
    pairs = zip(common["centroid_x"], common["centroid_y"], strict=True)
    assert all(np.array_equal(x, y) for x, y in pairs)


def test_appends_equal_a_full_run_with_frozen_centroids(incremental_scenario: Scenario) -> None:
    s = incremental_scenario
    same(s, s.b, s.full_v1)
    facts = s.b.manifest["incremental"]
    assert facts["method"] == "anti_join" and (facts["added"], facts["deleted"]) == (20, 0)
    assert facts["previous_run_id"] == s.a.run_id and facts["previous_input_version"] == 0
    work = s.b.manifest["semdedup"]["incremental"]
    assert 0 < work["clusters_recomputed"] < 6 and work["rows_reused"] > 0
    drift = facts["drift"]  # 8 of the 20 added rows form a far-off blob
    share = drift["added_beyond_p95"] / drift["added_rows_in_dbp"]
    assert drift["share_beyond_p95"] == pytest.approx(share) and share > 0.1
    assert drift["refit_due"] is True and drift["refit_above"] == 0.1


def test_an_unchanged_input_is_said_so_and_changes_nothing(incremental_scenario: Scenario) -> None:
    s = incremental_scenario
    again = s.run("a_again", 0, incremental={"previous_run": s.path(s.a)})
    facts = again.manifest["incremental"]
    assert facts["method"] == "unchanged" and (facts["added"], facts["deleted"]) == (0, 0)
    same(s, again, s.a)
    assert again.manifest["semdedup"]["incremental"]["clusters_recomputed"] == 0


def test_appends_and_deletes_with_an_emptied_cluster_and_a_deleted_partner(
    incremental_scenario: Scenario,
) -> None:
    s = incremental_scenario
    same(s, s.c, s.full_v3)
    facts = s.c.manifest["incremental"]
    assert facts["method"] == "anti_join"  # the feed does not cover version 1
    assert (facts["added"], facts["deleted"]) == (20, len(s.deleted))
    rows = s.table(s.c, contract.DECISIONS)
    assert not rows["id"].isin(s.deleted).any()
    assert s.empty_cluster not in set(rows["semdedup_cluster_id"].dropna().astype(int))
    before = s.table(s.full_v1, contract.DECISIONS)
    orphans = before.loc[before["semdedup_partner"] == s.partner, "id"]
    assert len(orphans) > 0 and not rows["semdedup_partner"].eq(s.partner).any()


def test_deletes_by_change_data_feed_over_the_previous_location(
    incremental_scenario: Scenario,
) -> None:
    s = incremental_scenario
    same(s, s.d, s.full_v3)
    facts = s.d.manifest["incremental"]
    assert facts["method"] == "change_data_feed"
    assert (facts["added"], facts["deleted"]) == (0, len(s.deleted))
    assert s.d.manifest["counts"]["input"] == s.full_v3.manifest["counts"]["input"]
    # the run it replaced stays readable at the versions its manifest names
    version = s.b_manifest["outputs"][contract.DECISIONS]["delta_version"]
    old = s.table(s.d, contract.DECISIONS, version)
    pd.testing.assert_frame_equal(old, s.table(s.full_v1, contract.DECISIONS))
    replaced = open_run(s.spark, facts["previous_manifest"])
    assert replaced.run_id == s.b_manifest["run_id"]
    assert replaced.table(contract.DECISIONS).count() == len(old)


def test_resolve_freezes_both_k_means_to_the_previous_run() -> None:
    raw = {"input": {"path": "/in"}, "output": {"path": "/out"},
           "incremental": {"previous_run": "/runs/a"}}  # fmt: skip
    cfg = resolve(config_from_dict(raw))
    assert cfg.dbp.kmeans.centroids_from == "/runs/a"
    assert cfg.semdedup.kmeans.centroids_from == "/runs/a"
    raw["dbp"] = {"kmeans": {"centroids_from": "/runs/other"}}
    with pytest.raises(ConfigError, match=r"^dbp.kmeans.centroids_from: "):
        resolve(config_from_dict(raw))
    with pytest.raises(ConfigError, match=r"^incremental.refit_above: "):
        config_from_dict({**raw, "incremental": {"refit_above": 1.5}})
    del raw["dbp"]
    raw["semdedup"] = {"enabled": True, "border_margin": 0.02}
    with pytest.raises(ConfigError, match=r"^semdedup.border_margin: incremental runs"):
        resolve(config_from_dict(raw))


def test_quantile_matches_numpy_to_the_bucket(spark: SparkSession) -> None:
    dist = np.random.default_rng(0).uniform(0, 0.8, 500)
    frame = spark.createDataFrame([(float(d),) for d in dist], [contract.DIST]).repartition(3)
    found = quantile_upper_bound(frame, 0.95)
    exact = np.sort(dist)[int(np.ceil(0.95 * 500)) - 1]
    assert exact <= found <= exact + 1e-4 + 1e-12


def test_a_weekly_job_on_a_catalog_table_needs_no_previous_run_path(
    spark: SparkSession, tmp_path: Path
) -> None:
    """The Databricks job's setup: a catalog table in, a catalog schema and a manifest path
    out, ``incremental.from_output`` on every run. The first run finds nothing there and is a
    full run; the next one is incremental from it (and equals a full run frozen to it)."""
    ids, x = embedding_rows(120, DIM, BLOBS, seed=5)
    spark.sql("CREATE DATABASE IF NOT EXISTS weekly_job_test")
    table = "weekly_job_test.images"
    rows = [(int(i), [float(v) for v in row], f"row {i}") for i, row in zip(ids, x, strict=True)]
    spark.createDataFrame(rows, SCHEMA).write.format("delta").mode("overwrite").saveAsTable(table)
    raw = {
        "input": {"path": table, "format": "table"},
        "output": {"catalog_schema": "weekly_job_test", "path": str(tmp_path / "runs" / "latest"),
                   "mode": "overwrite"},
        "semdedup": {"enabled": True, "eps": 0.05, "kmeans": {"k": 3, "iterations": 5}},
        "dbp": {"keep_fraction": 0.5, "kmeans": {"k": BLOBS, "iterations": 5}},
        "incremental": {"from_output": True},
    }  # fmt: skip
    week1 = run(spark, config_from_dict(raw))
    assert week1.manifest.get("incremental") is None
    assert week1.manifest["config"]["incremental"]["previous_run"] is None
    more = [(int(i) + 1000, [float(v) for v in row], "new") for i, row in zip(ids[:15], x[:15],
            strict=True)]  # fmt: skip
    spark.createDataFrame(more, SCHEMA).write.format("delta").mode("append").saveAsTable(table)
    week2 = run(spark, config_from_dict(raw))
    facts = week2.manifest["incremental"]
    assert facts["previous_run_id"] == week1.run_id
    assert (facts["method"], facts["added"], facts["deleted"]) == ("anti_join", 15, 0)
    week1_manifest = facts["previous_manifest"]
    frozen = {"k": BLOBS, "iterations": 5, "centroids_from": week1_manifest}
    full = run(spark, config_from_dict({
        **raw, "incremental": {},
        "output": {"path": str(tmp_path / "full"), "mode": "error"},
        "dbp": {**raw["dbp"], "kmeans": frozen},
        "semdedup": {**raw["semdedup"], "kmeans": {**frozen, "k": 3}},
    }))  # fmt: skip
    ours = spark.table("weekly_job_test.decisions").toPandas().sort_values("id")
    theirs = full.output.read(spark, contract.DECISIONS).toPandas().sort_values("id")
    pd.testing.assert_frame_equal(ours.reset_index(drop=True), theirs.reset_index(drop=True))


def test_from_output_and_a_previous_run_are_alternatives() -> None:
    raw = {"input": {"path": "/in"}, "output": {"path": "/out"},
           "incremental": {"previous_run": "/runs/a", "from_output": True}}  # fmt: skip
    with pytest.raises(ConfigError, match=r"^incremental.from_output: .*not both"):
        config_from_dict(raw)
