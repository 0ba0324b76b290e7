"""Checks before any stage computes (preflight.py): unusable output locations and targets that
cannot fit the input end in one ``UserError`` naming the key, before anything heavy runs."""

from __future__ import annotations

from pathlib import Path

import pytest
from pyspark.sql import SparkSession

from spark_prune.errors import EXIT_FAILURE, InfeasibleTargetError, InputError, OutputError
from spark_prune.pipeline import run
from spark_prune.preflight import check_locations, check_rows
from spark_prune.stages.base import RunContext
from spark_prune.stages.validate import ValidateStage
from tests.helpers import SCHEMA, make_config


def _error(spark: SparkSession, input_path: Path, output: Path, **output_keys: str) -> str:
    cfg = make_config(str(input_path), str(output), output=dict(output_keys))
    with pytest.raises(OutputError) as raised:
        check_locations(spark, cfg)
    return str(raised.value)


def test_output_locations(spark: SparkSession, tmp_path: Path) -> None:
    table, file = tmp_path / "in", tmp_path / "file"
    table.mkdir()
    file.write_text("x")
    check_locations(spark, make_config(str(table), str(tmp_path / "new" / "run")))  # creatable
    assert _error(spark, table, file) == (
        f"output.path {str(file)!r} is a file, not a directory; choose a directory"
    )
    assert _error(spark, table, file / "run").endswith(
        f"cannot be created: {str(file)!r} is a file; choose another path"
    )
    for overlapping in (table, table / "run", tmp_path):  # the same, below and above the input
        assert f"overlaps input.path {str(table)!r}" in _error(spark, table, overlapping)
    manifest = _error(spark, table, tmp_path / "out", manifest_path=str(tmp_path))
    assert manifest.startswith(f"output.manifest_path {str(tmp_path)!r} is a directory")


def test_a_run_checks_its_output_before_reading(spark: SparkSession, tmp_path: Path) -> None:
    nowhere = tmp_path / "not-read"  # does not exist: reading it would be another error
    with pytest.raises(OutputError, match=r"output.path .* overlaps input.path"):
        run(spark, make_config(str(nowhere), str(nowhere / "run")))


def test_rows_and_targets() -> None:
    cfg = make_config("in", "out", dbp={"keep_count": 30, "keep_fraction": None})
    with pytest.raises(InputError, match=r"^input.path 'in' at version 4 has no rows"):
        check_rows(cfg, 0, 0, 4)
    check_rows(cfg, 10, 0, None)  # every row invalid: nothing runs, nothing to check
    check_rows(cfg, 40, 30, None)  # the target is exactly the valid rows
    with pytest.raises(InfeasibleTargetError, match=r"^dbp.keep_count 30 exceeds the 29 valid"):
        check_rows(cfg, 40, 29, None)
    assert InfeasibleTargetError.exit_code == InputError.exit_code == EXIT_FAILURE
    semdedup = make_config("in", "out", semdedup={"enabled": True, "kmeans": {"k": 10}})
    check_rows(semdedup, 11, 11, None)
    with pytest.raises(InfeasibleTargetError, match=r"^semdedup.kmeans.k 10 is not below the 10"):
        check_rows(semdedup, 12, 10, None)
    auto = make_config("in", "out", semdedup={"enabled": True, "kmeans": {"k": "auto"}})
    check_rows(auto, 3, 3, None)  # auto sizes k from the rows


def test_the_validate_stage_checks_the_targets(spark: SparkSession) -> None:
    rows = [(i, [1.0, float(i)], "c") for i in range(4)] + [(9, None, "c")]
    cfg = make_config("in", "out", dbp={"keep_count": 5, "keep_fraction": None})
    ctx = RunContext(spark, cfg, "r", progress=False)
    with pytest.raises(InfeasibleTargetError, match=r"dbp.keep_count 5 exceeds the 4 valid"):
        ValidateStage().run(ctx, spark.createDataFrame(rows, SCHEMA))
    with pytest.raises(InputError, match=r"^input.path 'in' has no rows; nothing to prune"):
        ValidateStage().run(ctx, spark.createDataFrame([], SCHEMA))
