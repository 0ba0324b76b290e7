"""The CLIP-score stage (stages/clip_filter.py): decisions, survivors and counts of one run."""

from __future__ import annotations

from pyspark.sql import SparkSession

from spark_prune import contract
from spark_prune.stages.base import INVALID, REMOVED, RunContext
from spark_prune.stages.clip_filter import NO_SCORE, ClipFilterStage
from tests.helpers import make_config


def test_stage_removes_low_and_unscored_rows(spark: SparkSession) -> None:
    cfg = make_config(
        "in", "out", clip_filter={"enabled": True, "score_column": "s", "threshold": 0.5}
    )
    stage = ClipFilterStage()
    assert stage.enabled(cfg) and stage.input_columns(cfg) == ["s"]
    rows = spark.createDataFrame([(1, 0.9), (2, 0.1), (3, None), (4, 0.5)], "id long, s double")
    ctx = RunContext(spark, cfg, "r", progress=False)
    out = stage.run(ctx, rows)
    ctx.release()
    assert sorted(r["id"] for r in out.survivors.collect()) == [1, 4]
    got = {
        r["id"]: (r[contract.CLIP_SCORE], r[REMOVED], r[INVALID])
        for r in out.decisions.collect()  # type: ignore[union-attr]
    }
    assert got == {
        1: (0.9, False, None),
        2: (0.1, True, None),
        3: (None, None, NO_SCORE),
        4: (0.5, False, None),
    }
    assert (out.report.rows_in, out.report.removed, out.report.invalid) == (4, 1, 1)
    assert out.report.counts() == {"clip_score_invalid": 1}
