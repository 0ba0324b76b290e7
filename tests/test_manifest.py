"""The manifest from the run's facts and the stages' typed reports."""

from __future__ import annotations

from pathlib import Path

from pyspark.sql import SparkSession

from spark_prune import manifest
from spark_prune.stages.clip_filter import ClipFilterReport
from spark_prune.stages.dbp import DBPReport
from spark_prune.stages.semdedup import SemDedupReport
from spark_prune.stages.validate import ValidateReport
from tests.helpers import make_config


def test_reports_fill_their_sections(spark: SparkSession, tmp_path: Path) -> None:
    cfg = make_config("/lake/in", str(tmp_path / "out"))
    facts = manifest.RunFacts(
        run_id="r1",
        started="2026-01-01T00:00:00+00:00",
        input_version=3,
        counts={"input": 10, "kept": 4},
        timings={"validate": 1.5, "dbp": 2.0},
        outputs={"decisions": {"location": "/x/decisions", "delta_version": 0}},
    )
    reports = [
        ValidateReport("validate", rows_in=10, embedding_dim=8),
        SemDedupReport("semdedup", rows_in=9, removed=2, eps=0.1, reused_from_previous_run=True),
        ClipFilterReport("clip_filter", rows_in=7, removed=1, invalid=1),
        DBPReport("dbp", rows_in=5, target=4, empty_clusters=1, kmeans={"k": 6}),
    ]
    doc = manifest.build(spark, cfg, facts, reports)
    assert doc["input"]["embedding_dim"] == 8 and doc["input"]["delta_version"] == 3
    assert doc["input"]["path"] == "/lake/in"  # merged into, not replaced
    assert doc["semdedup"] == {"reused_from_previous_run": True, "reused_from": None, "eps": 0.1}
    assert doc["kmeans"] == {"dbp": {"k": 6}, "dbp_empty_clusters": 1}
    assert doc["dbp"] == {"rows_in": 5, "target": 4, "hierarchy": None}
    assert [s["stage"] for s in doc["stages"]] == ["validate", "semdedup", "clip_filter", "dbp"]
    assert doc["stages"][3] == {
        "stage": "dbp",
        "rows_in": 5,
        "removed": None,
        "invalid": None,
        "seconds": 2.0,
    }
    assert reports[2].counts() == {"clip_score_invalid": 1}
    path = tmp_path / "m.json"
    manifest.write(spark, str(path), doc)
    assert manifest.read(spark, str(path))["run_id"] == "r1"
