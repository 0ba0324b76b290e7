"""The DBP stage (stages/dbp.py): what it declares, and one tiny run's survivors, decisions,
clusters table and report."""

from __future__ import annotations

from pyspark.sql import SparkSession
from pyspark.sql import types as T

from spark_prune import contract
from spark_prune.stages.base import INVALID, REMOVED, RunContext
from spark_prune.stages.dbp import DBPStage
from tests.helpers import embedding_rows, make_config


def test_declarations() -> None:
    stage = DBPStage()
    assert (stage.name, stage.reason, stage.checkpoint) == ("dbp", contract.DBP, True)
    assert [(c.name, c.dtype) for c in stage.columns] == [
        (contract.CLUSTER_ID, T.IntegerType()),
        (contract.DIST, T.DoubleType()),
        (contract.RANK_IN_CLUSTER, T.IntegerType()),
    ]
    assert dict(stage.tables) == {contract.CLUSTERS: contract.CLUSTERS_SCHEMA}
    assert stage.enabled(make_config("in", "out"))
    assert not stage.enabled(make_config("in", "out", dbp={"enabled": False}))
    assert stage.input_columns(make_config("in", "out")) == []


def test_a_tiny_run(spark: SparkSession) -> None:
    ids, x = embedding_rows(60, 4, 3, seed=2)
    rows = [(int(i), [float(v) for v in vec]) for i, vec in zip(ids, x, strict=True)]
    df = spark.createDataFrame(rows, "id long, image_emb array<float>").repartition(2)
    cfg = make_config("in", "out", dbp={"keep_fraction": 0.5, "kmeans": {"k": 3, "iterations": 5}})
    ctx = RunContext(spark, cfg, "r", embedding_dim=4, rows_read=60, progress=False)
    try:
        out = DBPStage().run(ctx, df)
        survivors = sorted(r["id"] for r in out.survivors.select("id").collect())
        assert out.decisions is not None
        decided = {r["id"]: r for r in out.decisions.collect()}
        clusters = out.tables[contract.CLUSTERS].collect()
    finally:
        ctx.release()
    assert len(survivors) == 30  # keep_fraction 0.5 of 60
    assert sorted(decided) == ids.tolist()
    assert survivors == sorted(i for i, r in decided.items() if r[REMOVED] is False)
    assert {r[INVALID] for r in decided.values()} == {None}
    assert {r[contract.CLUSTER_ID] for r in decided.values()} <= {0, 1, 2}
    assert sum(c["size"] for c in clusters) == 60 and sum(c[contract.KEPT] for c in clusters) == 30
    report = out.report
    assert (report.rows_in, report.target, report.stage) == (60, 30, "dbp")
    entries = report.manifest_entries()
    assert entries["dbp"] == {"rows_in": 60, "target": 30, "hierarchy": None}  # not hierarchical
    assert entries["kmeans"]["dbp"]["k"] == 3
    assert entries["kmeans"]["dbp_empty_clusters"] == 3 - len(clusters)
