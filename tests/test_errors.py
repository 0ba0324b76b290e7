"""Every user mistake ends in one ``spark-prune: error:`` line and a documented exit code.

Table-driven: each case builds what it needs under ``tmp_path``, runs the CLI's ``main`` in
process (the test session's Spark is reused) and checks the exit code, that stderr has exactly
one error line naming the key/path/value, and no traceback. A few cases go through a real
subprocess (``test_real_process``).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pyarrow as pa
import pytest
import yaml
from pyspark.sql import SparkSession
from pyspark.sql import functions as F

from spark_prune.cli import main
from spark_prune.errors import EXIT_FAILURE, EXIT_USAGE
from tests.helpers import embedding_rows, write_input

pytestmark = pytest.mark.slow  # run first under xdist (tests/conftest.py)

N, DIM = 60, 4
ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def table(spark: SparkSession, tmp_path_factory: pytest.TempPathFactory) -> str:
    ids, x = embedding_rows(N, DIM, 3, seed=5)
    return write_input(spark, tmp_path_factory.mktemp("errors") / "input", ids, x)


@dataclass
class Case:
    """``setup(tmp, table)`` writes what the case needs and returns the argv."""

    name: str
    setup: Callable[[Path, str], list[str]]
    code: int
    message: str  # a fragment of the one error line
    needs: list[str] = field(default_factory=list)


def run_args(table: str, out: Path, *sets: str, config: Path | None = None) -> list[str]:
    argv = ["run", "--set", f"input.path={table}", "--set", f"output.path={out}"]
    argv += ["--set", "dbp.kmeans.k=3", "--set", "dbp.kmeans.iterations=5"]
    if config is not None:
        argv += ["--config", str(config)]
    for item in sets:
        argv += ["--set", item]
    return argv


def _spark() -> SparkSession:
    active = SparkSession.getActiveSession()
    assert active is not None
    return active


def _write_rows(path: Path, rows: list[tuple], schema: str) -> str:
    _spark().createDataFrame(rows, schema).write.format("delta").save(str(path))
    return str(path)


def _bad_yaml(tmp: Path, table: str) -> list[str]:
    cfg = tmp / "bad.yaml"
    cfg.write_text("dbp:\n  tau: [0.1\n")
    return run_args(table, tmp / "out", config=cfg)


def _parquet(tmp: Path, table: str) -> list[str]:
    _spark().read.format("delta").load(table).write.parquet(str(tmp / "pq"))
    return run_args(str(tmp / "pq"), tmp / "out")


def _string_embedding(tmp: Path, table: str) -> list[str]:
    path = _write_rows(tmp / "s", [(1, "0.1,0.2"), (2, "0.3,0.4")], "id long, image_emb string")
    return run_args(path, tmp / "out")


def _truncated_shard(tmp: Path, table: str) -> list[str]:
    """A clip-retrieval folder whose second image-embedding file was cut short (an interrupted
    copy: its header promises more rows than it holds)."""
    from tests.shard_fixtures import clip_retrieval_dir

    layout = clip_retrieval_dir(tmp / "cr")
    broken = tmp / "cr" / "img_emb" / "img_emb_1.npy"
    broken.write_bytes(broken.read_bytes()[:-200])
    return run_args(str(layout.path), tmp / "out", "input.format=clip-retrieval",
                    "input.id_column=key")  # fmt: skip


def _mistyped_shard(tmp: Path, table: str) -> list[str]:
    """A DataComp folder whose second shard has a column of another type than the first's."""
    import pyarrow.parquet as pq

    from tests.shard_fixtures import datacomp_dir

    layout = datacomp_dir(tmp / "dc")
    second = tmp / "dc" / "00000001.parquet"
    rows = pq.read_table(second)
    index = rows.schema.get_field_index("original_width")
    words = pa.array(["wide"] * rows.num_rows)
    pq.write_table(rows.set_column(index, "original_width", words), second)
    return run_args(str(layout.path), tmp / "out", "input.format=datacomp",
                    "input.id_column=uid")  # fmt: skip


def _null_ids(tmp: Path, table: str) -> list[str]:
    rows = [(1, [1.0, 0.0]), (None, [0.0, 1.0])]
    return run_args(_write_rows(tmp / "n", rows, "id long, image_emb array<float>"), tmp / "out")


def _duplicate_ids(tmp: Path, table: str) -> list[str]:
    rows = [(1, [1.0, 0.0]), (1, [0.0, 1.0]), (2, [0.5, 0.5])]
    return run_args(_write_rows(tmp / "d", rows, "id long, image_emb array<float>"), tmp / "out")


def _a_file(tmp: Path, argv: list[str]) -> list[str]:
    (tmp / "file.txt").write_text("x")
    return argv


def _existing_output(tmp: Path, table: str) -> list[str]:
    _write_rows(tmp / "out" / "decisions", [(1,)], "id long")
    (tmp / "out" / "manifest.json").write_text("{}")  # a published run
    return run_args(table, tmp / "out")


def _incomplete_run(tmp: Path, table: str) -> list[str]:
    _write_rows(tmp / "run" / "decisions", [(1,)], "id long")
    return ["sql", "--run", str(tmp / "run"), "SELECT 1"]


def _run_fixture(tmp: Path, table: str) -> str:
    from tests.run_fixture import write_run

    return write_run(_spark(), tmp, semdedup=False, images=False).path


CASES = [
    # ---- 2: the command line or the config is wrong in itself
    Case("missing config file", lambda t, s: ["run", "--config", str(t / "nope.yaml")],
         EXIT_USAGE, "no such file"),
    Case("config is a directory", lambda t, s: ["run", "--config", str(t)], EXIT_USAGE,
         "is a directory"),
    Case("invalid yaml", _bad_yaml, EXIT_USAGE, "invalid YAML at line 3"),
    Case("unknown key", lambda t, s: run_args(s, t / "o", "dbp.tua=1"), EXIT_USAGE,
         "unknown key dbp.tua"),
    Case("bad value", lambda t, s: run_args(s, t / "o", "dbp.tau=-1"), EXIT_USAGE,
         "dbp.tau: must be > 0"),
    Case("keep_count 0", lambda t, s: run_args(s, t / "o", "dbp.keep_count=0",
                                               "dbp.keep_fraction="),
         EXIT_USAGE, "dbp.keep_count: must be >= 1"),
    Case("missing output", lambda t, s: ["run", "--set", f"input.path={s}"], EXIT_USAGE,
         "output.path"),
    Case("sql unknown column", lambda t, s: [
        "sql", "--run", _run_fixture(t, s), "SELECT nope FROM decisions"],
         EXIT_USAGE, "query: [UNRESOLVED_COLUMN"),
    Case("sql limit", lambda t, s: ["sql", "--run", str(t), "--limit", "0", "SELECT 1"],
         EXIT_USAGE, "--limit 0"),
    Case("rethreshold onto itself", lambda t, s: [
        "rethreshold", "--run", str(t / "r"), "--eps", "0.1", "--output", str(t / "r") + "/"],
         EXIT_USAGE, "is the run being read"),
    # ---- 1: valid config that does not fit the input, output or run
    Case("missing input", lambda t, s: run_args(str(t / "nope"), t / "o"), EXIT_FAILURE,
         "does not exist; check input.path"),
    Case("parquet read as delta", _parquet, EXIT_FAILURE, "set input.format=parquet"),
    Case("missing catalog table", lambda t, s: run_args("nodb.nope", t / "o",
                                                        "input.format=table"),
         EXIT_FAILURE, "'nodb.nope': no such table"),
    Case("version beyond latest", lambda t, s: run_args(s, t / "o", "input.version=7"),
         EXIT_FAILURE, "input.version 7"),
    Case("truncated shard", _truncated_shard, EXIT_FAILURE, "img_emb_1.npy ended after"),
    Case("shard column of another type", _mistyped_shard, EXIT_FAILURE,
         "00000001.npz) cannot be read: ArrowInvalid"),
    Case("embedding_dim no row has", lambda t, s: run_args(s, t / "o", "input.embedding_dim=7"),
         EXIT_FAILURE, "input.embedding_dim 7: no row has 7 values"),
    Case("missing id column", lambda t, s: run_args(s, t / "o", "input.id_column=key"),
         EXIT_FAILURE, "id column 'key' not found"),
    Case("missing embedding column", lambda t, s: run_args(s, t / "o",
                                                          "input.embedding_column=emb"),
         EXIT_FAILURE, "embedding column 'emb' not found"),
    Case("string embedding", _string_embedding, EXIT_FAILURE, "must be array<float>"),
    Case("null ids", _null_ids, EXIT_FAILURE, "contains null ids"),
    Case("duplicate ids", _duplicate_ids, EXIT_FAILURE, "duplicate ids, e.g. 1 (x2)"),
    Case("existing output", _existing_output, EXIT_FAILURE, "set output.mode=overwrite"),
    Case("sql on missing run", lambda t, s: ["sql", "--run", str(t / "nope"), "SELECT 1"],
         EXIT_FAILURE, "does not exist; give the output.path of a finished run"),
    Case("report on missing run", lambda t, s: ["report", "--run", str(t / "nope")],
         EXIT_FAILURE, "does not exist"),
    Case("rethreshold on missing run", lambda t, s: [
        "rethreshold", "--run", str(t / "nope"), "--eps", "0.1", "--output", str(t / "o")],
         EXIT_FAILURE, "does not exist"),
    Case("run is a file", lambda t, s: _a_file(t, ["sql", "--run", str(t / "file.txt"),
                                                  "SELECT 1"]), EXIT_FAILURE, "is a file"),
    Case("sql on incomplete run", _incomplete_run, EXIT_FAILURE, "is an incomplete run"),
    Case("report into a directory", lambda t, s: [
        "report", "--run", _run_fixture(t, s), "--out", str(t)], EXIT_FAILURE,
         "is a directory; give a file path"),
    Case("report under a file", lambda t, s: _a_file(t, [
        "report", "--run", _run_fixture(t, s), "--out", str(t / "file.txt" / "r.html")]),
         EXIT_FAILURE, "file.txt' is a file, not a directory"),
    Case("export under a file", lambda t, s: _a_file(t, [
        "export", "--run", _run_fixture(t, s), "--format", "ids", "--out",
        str(t / "file.txt" / "ids")]), EXIT_FAILURE, "file.txt' is a file, not a directory"),
]  # fmt: skip


def error_lines(err: str) -> list[str]:
    return [line for line in err.splitlines() if line.startswith("spark-prune: error:")]


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_user_mistake_is_one_line(
    spark: SparkSession, table: str, tmp_path: Path, capsys: pytest.CaptureFixture[str], case: Case
) -> None:
    argv = case.setup(tmp_path, table)
    capsys.readouterr()
    code = main(argv)
    err = capsys.readouterr().err
    lines = error_lines(err)
    assert code == case.code, err
    assert len(lines) == 1, err
    assert case.message in lines[0], lines[0]
    assert "Traceback" not in err and "\tat " not in err


def test_a_failed_run_leaves_no_empty_output_directory(
    spark: SparkSession, table: str, tmp_path: Path
) -> None:
    code = main(run_args(table, tmp_path / "new" / "out", "input.embedding_column=nope"))
    assert code == EXIT_FAILURE and not (tmp_path / "new").exists()
    (tmp_path / "kept").mkdir()  # a directory that was there before the run stays
    assert main(run_args(table, tmp_path / "kept", "input.embedding_column=nope")) == EXIT_FAILURE
    assert (tmp_path / "kept").is_dir()


def test_verbose_adds_the_traceback(
    spark: SparkSession, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code = main(["sql", "--verbose", "--run", str(tmp_path / "nope"), "SELECT 1"])
    err = capsys.readouterr().err
    assert code == EXIT_FAILURE
    assert "Traceback" in err and "RunNotFoundError" in err
    assert len(error_lines(err)) == 1


def test_bad_command_line_is_one_line(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exc:
        main(["run", "--nope"])
    err = capsys.readouterr().err
    assert exc.value.code == EXIT_USAGE
    lines = err.strip().splitlines()
    assert len(lines) == 1
    assert lines[0].startswith("spark-prune: error: unrecognized arguments: --nope (see ")


def test_sql_reads_the_pinned_versions(
    spark: SparkSession, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A later write to a run's table is not what ``sql`` shows: the manifest's version is."""
    run_path = _run_fixture(tmp_path, "")
    decisions = spark.read.format("delta").load(f"{run_path}/decisions")
    n = decisions.count()
    decisions.limit(3).write.format("delta").mode("overwrite").save(f"{run_path}/decisions")
    capsys.readouterr()
    assert main(["sql", "--run", run_path, "SELECT count(*) AS rows FROM decisions"]) == 0
    out = capsys.readouterr().out
    assert f"|{n}" in out.replace(" ", ""), out


def test_report_on_a_copied_run_reads_the_copy(spark: SparkSession, tmp_path: Path) -> None:
    """The copy's manifest names the original's tables; the copy's own tables are read."""
    from spark_prune.runs import open_run

    original = Path(_run_fixture(tmp_path / "a", ""))
    copy = tmp_path / "copy"
    shutil.copytree(original, copy)
    decisions = spark.read.format("delta").load(str(original / "decisions"))
    n = decisions.count()
    decisions.limit(2).write.format("delta").mode("overwrite").save(str(original / "decisions"))
    shutil.rmtree(original / "clusters")
    opened = open_run(spark, str(copy))
    assert opened.outputs["decisions"]["location"] == str(original / "decisions")
    assert opened.table("decisions").count() == n
    assert opened.table("clusters").count() > 0


def test_every_embedding_null_records_every_row_invalid(
    spark: SparkSession, tmp_path: Path
) -> None:
    from spark_prune.pipeline import run
    from tests.helpers import make_config

    path = write_input(spark, tmp_path / "in", np.arange(20), [None] * 20)
    result = run(spark, make_config(path, str(tmp_path / "out")))
    assert result.counts["input"] == result.counts["invalid"] == 20
    assert result.counts["kept"] == 0
    detail = spark.read.format("delta").load(str(tmp_path / "out" / "decisions"))
    assert {r["detail"] for r in detail.select("detail").distinct().collect()} == {
        "embedding is null"
    }


def test_vector_embeddings_give_the_same_run(
    spark: SparkSession, table: str, tmp_path: Path
) -> None:
    """A Spark ML VectorUDT column is converted (vector_to_array), not refused; the pruned
    table keeps the input's vector column unchanged, and an overwrite drops the old report."""
    from pyspark.ml.functions import array_to_vector
    from pyspark.ml.linalg import VectorUDT

    from spark_prune.pipeline import run
    from tests.helpers import make_config

    vectors = (
        spark.read.format("delta")
        .load(table)
        .withColumn("image_emb", array_to_vector(F.col("image_emb")))
    )
    vectors.write.format("delta").save(str(tmp_path / "vec"))
    dbp = {"kmeans": {"k": 3, "iterations": 5}}
    arrays = run(spark, make_config(table, str(tmp_path / "a"), dbp=dbp))
    (tmp_path / "v").mkdir()
    (tmp_path / "v" / "report.html").write_text("<html>an older run</html>")
    cfg = make_config(str(tmp_path / "vec"), str(tmp_path / "v"), dbp=dbp)
    vec = run(spark, cfg)
    assert vec.counts == arrays.counts

    def kept(path: Path) -> list[int]:
        rows = spark.read.format("delta").load(str(path / "decisions")).filter("kept")
        return sorted(r["id"] for r in rows.select("id").collect())

    assert kept(tmp_path / "v") == kept(tmp_path / "a")
    pruned = spark.read.format("delta").load(str(tmp_path / "v" / "pruned"))
    assert isinstance(pruned.schema["image_emb"].dataType, VectorUDT)
    assert not (tmp_path / "v" / "report.html").exists()


def _subprocess(argv: list[str], cwd: Path) -> subprocess.CompletedProcess[str]:
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    return subprocess.run(
        [sys.executable, "-m", "spark_prune.cli", *argv],
        cwd=cwd, env=env, capture_output=True, text=True, timeout=300,
    )  # fmt: skip


def test_real_process(spark: SparkSession, tmp_path: Path) -> None:
    """Through a real process: a config error and a missing --run (no JVM started), a missing
    input and a query naming an unknown column (JVM started: nothing of Spark's own error
    logging reaches stderr)."""
    cfg = tmp_path / "c.yaml"
    where = {"input": {"path": str(tmp_path / "in")}, "output": {"path": str(tmp_path / "o")}}
    cfg.write_text(yaml.safe_dump({**where, "dbp": {"keep_fraction": 2}}))
    done = _subprocess(["run", "--config", str(cfg)], tmp_path)
    assert done.returncode == EXIT_USAGE
    assert done.stderr.strip().splitlines() == [
        "spark-prune: error: dbp.keep_fraction: must be in (0, 1], got 2.0"
    ]
    missing = str(tmp_path / "nope")
    done = _subprocess(["sql", "--run", missing, "SELECT 1"], tmp_path)
    assert done.returncode == EXIT_FAILURE
    assert done.stderr.strip().splitlines() == [  # only this line: no JVM was started
        f"spark-prune: error: --run {missing!r} does not exist; give the output.path of a "
        "finished run"
    ]
    done = _subprocess(run_args(str(tmp_path / "none"), tmp_path / "out"), tmp_path)
    assert done.returncode == EXIT_FAILURE, done.stderr
    lines = error_lines(done.stderr)
    assert len(lines) == 1 and "does not exist; check input.path" in lines[0]
    assert "Traceback" not in done.stderr and "\tat " not in done.stderr
    run = _run_fixture(tmp_path / "fixture", "")
    done = _subprocess(["sql", "--run", run, "SELECT reasn FROM decisions"], tmp_path)
    assert done.returncode == EXIT_USAGE, done.stderr
    assert len(error_lines(done.stderr)) == 1 and "reasn" in error_lines(done.stderr)[0]
    assert "QueryContextLogger" not in done.stderr and "\tat " not in done.stderr
