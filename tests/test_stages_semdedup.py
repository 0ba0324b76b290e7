"""The SemDeDup stage (stages/semdedup.py): what it declares, one tiny run with planted exact
copies, and the rethreshold path that reuses an earlier run's similarities."""

from __future__ import annotations

import numpy as np
from pyspark.sql import SparkSession
from pyspark.sql import types as T

from spark_prune import contract
from spark_prune.stages.base import INVALID, REMOVED, RunContext, StoredSemDedup
from spark_prune.stages.semdedup import SemDedupStage
from tests.helpers import make_config, unit

COLUMNS = [c.name for c in SemDedupStage.columns]


def test_declarations() -> None:
    stage = SemDedupStage()
    assert (stage.name, stage.reason, stage.checkpoint) == ("semdedup", contract.SEMDEDUP, True)
    assert [(c.name, c.dtype) for c in stage.columns] == [
        (contract.SEMDEDUP_CLUSTER_ID, T.IntegerType()),
        (contract.SEMDEDUP_DIST, T.DoubleType()),
        (contract.SEMDEDUP_MAX_SIM, T.DoubleType()),
        (contract.SEMDEDUP_PARTNER, None),  # the id's type
    ]
    assert dict(stage.tables) == {contract.SEMDEDUP_CLUSTERS: contract.SEMDEDUP_CLUSTERS_SCHEMA}
    assert stage.input_columns(make_config("in", "out")) == []
    assert not stage.enabled(make_config("in", "out"))  # off by default
    assert stage.enabled(make_config("in", "out", semdedup={"enabled": True}))


def test_a_tiny_run_and_its_reuse(spark: SparkSession) -> None:
    x = unit(np.random.default_rng(9), 40, 16)  # random directions: no two alike ...
    x[30:] = x[:10]  # ... but rows 30..39, exact copies of rows 0..9
    rows = [(i, [float(v) for v in vec]) for i, vec in enumerate(x)]
    df = spark.createDataFrame(rows, "id long, image_emb array<float>").repartition(2)
    semdedup = {"enabled": True, "eps": 0.001, "kmeans": {"k": 2, "iterations": 5}}
    cfg = make_config("in", "out", semdedup=semdedup)
    ctx = RunContext(spark, cfg, "r", embedding_dim=16, rows_read=40, progress=False)
    try:
        out = SemDedupStage().run(ctx, df)
        assert out.decisions is not None
        decided = {r["id"]: r for r in out.decisions.collect()}
        survivors = {r["id"] for r in out.survivors.select("id").collect()}
        centroids = out.tables[contract.SEMDEDUP_CLUSTERS].collect()
        stored = out.decisions.select("id", *COLUMNS)
        ctx.stored_semdedup = StoredSemDedup(stored, "/runs/r0/decisions")
        reused = SemDedupStage().run(ctx, df)
        assert reused.decisions is not None
        reused_removed = {r["id"] for r in reused.decisions.filter(REMOVED).collect()}
    finally:
        ctx.release()
    removed = {i for i, r in decided.items() if r[REMOVED]}
    assert len(removed) == 10 and survivors == set(range(40)) - removed
    for i in range(10):  # exactly one copy of each pair goes, pointing at the other
        copy = i + 30
        assert (i in removed) != (copy in removed)
        gone = i if i in removed else copy
        assert decided[gone][contract.SEMDEDUP_PARTNER] == (copy if gone == i else i)
        assert decided[gone][contract.SEMDEDUP_MAX_SIM] > 0.9999
    assert {r[INVALID] for r in decided.values()} == {None}
    assert (out.report.rows_in, out.report.removed) == (40, 10)
    assert sorted(c[contract.CLUSTER_ID] for c in centroids) == [0, 1]  # every k-means centroid
    assert sum(c["size"] for c in centroids) == 40
    assert out.report.manifest_entries()["semdedup"]  # k-means and cost facts
    assert reused_removed == removed and reused.report.reused_from_previous_run
    assert reused.report.manifest_entries() == {
        "semdedup": {
            "reused_from_previous_run": True,
            "reused_from": "/runs/r0/decisions",
            "eps": 0.001,
        }
    }
