"""open_run: a run's manifest and its tables at the versions the manifest recorded."""

from __future__ import annotations

from pathlib import Path

import pytest
from pyspark.sql import SparkSession

from spark_prune import manifest
from spark_prune.errors import IncompleteRunError
from spark_prune.lake import DeltaLocation
from spark_prune.runs import RunNotFoundError, check_run_exists, open_run, report_path_for


def _fake_run(spark: SparkSession, root: Path, manifest_path: Path) -> DeltaLocation:
    decisions = DeltaLocation(str(root / "decisions"))
    version = decisions.write(spark.createDataFrame([(1, True)], "id long, kept boolean"), {})
    doc = {
        "run_id": "r1",
        "input": {"id_column": "id"},
        "outputs": {"decisions": {"location": decisions.ref, "delta_version": version}},
    }
    manifest.write(spark, str(manifest_path), doc)
    return decisions


def test_tables_are_read_at_their_recorded_versions(spark: SparkSession, tmp_path: Path) -> None:
    decisions = _fake_run(spark, tmp_path, tmp_path / "manifest.json")
    decisions.write(spark.createDataFrame([(1, True), (2, False)], "id long, kept boolean"), {})
    run = open_run(spark, str(tmp_path))
    assert run.run_id == "r1" and run.id_column == "id" and run.table_names == ["decisions"]
    assert run.table("decisions").count() == 1  # not the later version with two rows
    assert run.register_views() == ["decisions"]
    assert spark.sql("SELECT count(*) AS n FROM decisions").first()["n"] == 1  # type: ignore[index]
    with pytest.raises(KeyError, match="no table 'pruned'"):
        run.table("pruned")


def test_a_run_found_by_its_manifest_file(spark: SparkSession, tmp_path: Path) -> None:
    _fake_run(spark, tmp_path / "tables", tmp_path / "elsewhere" / "run.json")
    run = open_run(spark, str(tmp_path / "elsewhere" / "run.json"))
    assert run.table("decisions").count() == 1


def test_no_manifest_is_no_run(spark: SparkSession, tmp_path: Path) -> None:
    with pytest.raises(RunNotFoundError, match="does not exist"):
        open_run(spark, str(tmp_path / "nothing"))


def test_a_missing_local_run_is_found_without_spark(tmp_path: Path) -> None:
    with pytest.raises(RunNotFoundError, match="does not exist; give the output.path"):
        check_run_exists(str(tmp_path / "nope"))
    with pytest.raises(RunNotFoundError, match="holds no run"):
        check_run_exists(str(tmp_path))
    (tmp_path / "decisions" / "_delta_log").mkdir(parents=True)
    with pytest.raises(IncompleteRunError, match="incomplete run: it has decisions"):
        check_run_exists(str(tmp_path))
    (tmp_path / "manifest.json").write_text("{}")
    check_run_exists(str(tmp_path))  # a manifest: open_run checks the rest
    check_run_exists(str(tmp_path / "manifest.json"))
    check_run_exists("s3://bucket/runs/r1")  # remote: left to open_run


def test_the_default_report_path_never_lands_inside_a_manifest_file() -> None:
    assert report_path_for("/runs/r1") == "/runs/r1/report.html"
    assert report_path_for("/runs/r1/manifest.json") == "/runs/r1/report.html"
    assert report_path_for("/runs/r1/_previous_runs/abc.json") == (
        "/runs/r1/_previous_runs/abc.report.html"
    )
    assert report_path_for("run.json") == "run.report.html"
