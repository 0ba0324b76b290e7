"""The ``spark-prune`` command line (cli.py): parser, exit codes, run / sql through main()."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from pyspark.sql import SparkSession

from spark_prune.cli import build_parser, main
from tests.helpers import embedding_rows, write_input


def test_parser_commands_and_overrides() -> None:
    parser = build_parser()
    args = parser.parse_args(["run", "--set", "a=1", "--set", "b.c=x", "-v"])
    assert (args.command, args.overrides, args.verbose) == ("run", ["a=1", "b.c=x"], True)
    sql = parser.parse_args(["sql", "--run", "/r", "SELECT 1"])
    assert (sql.run, sql.query, sql.limit) == ("/r", "SELECT 1", 50)
    with pytest.raises(SystemExit) as missing:
        parser.parse_args(["rethreshold", "--run", "/r", "--output", "/o"])  # no --eps
    assert missing.value.code == 2
    with pytest.raises(SystemExit):
        parser.parse_args([])


def test_cli_reports_config_errors(capsys: pytest.CaptureFixture[str]) -> None:
    assert (
        main(["run", "--set", "input.path=/a", "--set", "output.path=/b", "--set", "dbp.tau=0"])
        == 2
    )
    assert "dbp.tau: must be > 0" in capsys.readouterr().err
    assert main(["run", "--set", "dbp.tau"]) == 2
    assert "--set 'dbp.tau': expected key=value" in capsys.readouterr().err


def test_run_then_sql_prints_the_answer(
    spark: SparkSession, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    ids, x = embedding_rows(120, 4, 2, seed=1)
    path = write_input(spark, tmp_path / "in", ids, x)
    conf = tmp_path / "run.yaml"
    conf.write_text(f"input: {{path: {path}}}\ndbp: {{kmeans: {{k: 2, iterations: 5}}}}\n")
    out = str(tmp_path / "out")
    capsys.readouterr()
    assert main(["run", "--config", str(conf), "--set", f"output.path={out}"]) == 0
    printed = capsys.readouterr().out
    assert "timings_seconds" in json.loads(printed.strip().splitlines()[-1])
    assert main(["sql", "--run", out, "SELECT count(*) AS n_kept FROM decisions WHERE kept"]) == 0
    assert "|60" in capsys.readouterr().out.replace(" ", "")


def test_a_checkpoint_that_lost_a_file_points_to_fresh(
    spark: SparkSession, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A data file deleted from a kept checkpoint failed every rerun with Spark's bare
    FILE_NOT_EXIST; the error now names the checkpoint and ``--fresh``, which recovers."""
    ids, x = embedding_rows(120, 4, 2, seed=1)
    path = write_input(spark, tmp_path / "in", ids, x)
    out = tmp_path / "out"
    settings = [f"input.path={path}", f"output.path={out}", "output.mode=overwrite",
                "output.keep_checkpoints=true", "dbp.kmeans.k=2"]  # fmt: skip
    args = [item for setting in settings for item in ("--set", setting)]
    assert main(["run", *args]) == 0
    for data_file in (out / "_stages" / "dbp").glob("*.parquet"):
        data_file.unlink()
    capsys.readouterr()
    assert main(["run", *args]) == 1
    last = capsys.readouterr().err.strip().splitlines()[-1]
    assert last.startswith("spark-prune: error: Spark failed: ") and "Traceback" not in last
    assert "checkpoint under the output's _stages/ lost a file: rerun with --fresh" in last
    assert main(["run", "--fresh", *args]) == 0
