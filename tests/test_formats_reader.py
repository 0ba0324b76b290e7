"""The sharded reader (formats/reader.py): shard counts checked before the row pass, one-line
errors naming the shard, whatever a task raised."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from pyspark.sql import SparkSession

from spark_prune.cli import main
from spark_prune.config_loader import config_from_dict
from spark_prune.formats import ShardError, read_sharded
from spark_prune.formats.reader import _task_error_line, output_schema, read_shards
from spark_prune.formats.shards import Shard
from tests.shard_fixtures import datacomp_dir, input_config


def test_misaligned_shard_is_a_one_line_error(
    spark: SparkSession, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    layout = datacomp_dir(tmp_path / "dc", shard_rows=(10, 12))
    with np.load(layout.path / "00000001.npz") as npz:
        arrays = {k: npz[k][:-1] for k in npz.files}
    np.savez(layout.path / "00000001.npz", **arrays)
    raw = input_config(layout, "datacomp", id_column="uid")
    with pytest.raises(ShardError, match=r"shard 00000001: .*00000001.parquet has 12 rows but"):
        read_sharded(spark, config_from_dict({"input": raw, "output": {"path": "x"}}).input)
    code = main(
        [
            "run",
            "--set",
            f"input.path={layout.path}",
            "--set",
            "input.format=datacomp",
            "--set",
            "input.id_column=uid",
            "--set",
            f"output.path={tmp_path / 'out'}",
        ]
    )
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 1  # an input that does not fit (errors.py: EXIT_FAILURE)
    assert err[-1].startswith("spark-prune: error: shard 00000001:"), err
    assert "11" in err[-1] and "12" in err[-1]


def test_shard_missing_a_column_is_named_before_the_row_pass(
    spark: SparkSession, tmp_path: Path
) -> None:
    layout = datacomp_dir(tmp_path / "dc", shard_rows=(6, 7))
    second = layout.path / "00000001.parquet"
    pq.write_table(pq.read_table(second).drop_columns(["text"]), second)
    cfg = config_from_dict({"input": input_config(layout, "datacomp"), "output": {"path": "x"}})
    with pytest.raises(ShardError, match=r"^shard 00000001: .*00000001.parquet lacks columns text"):
        read_sharded(spark, cfg.input)


def test_no_shards_and_a_clashing_column_are_named(spark: SparkSession, tmp_path: Path) -> None:
    with pytest.raises(ShardError, match=r"^input.path: no shards found in '/x'"):
        read_shards(spark, [], "emb", "/x")
    (tmp_path / "empty").mkdir()
    for sub in ("metadata", "img_emb"):
        (tmp_path / "empty" / sub).mkdir(parents=True)
    for fmt, layout_hint in (("datacomp", "<stem>.parquet"), ("clip-retrieval", "img_emb_N.npy")):
        raw = {"input": {"path": str(tmp_path / "empty"), "format": fmt}, "output": {"path": "x"}}
        with pytest.raises(ShardError, match=f"no shards found .* expects .*{layout_hint}"):
            read_sharded(spark, config_from_dict(raw).input)
    layout = datacomp_dir(tmp_path / "dc", shard_rows=(3,))
    first = Shard("00000000", f"{layout.path}/00000000.parquet", f"{layout.path}/00000000.npz")
    schema = output_schema([first], "emb")
    assert schema.names[-1] == "emb" and schema.names[:2] == ["uid", "url"]
    with pytest.raises(ShardError, match=r"^input.embedding_column: 'text' is already a column"):
        output_schema([first], "text")


def test_task_error_line_keeps_the_shard_message() -> None:
    wrapped = (
        "An exception was thrown from the Python worker.\n"
        "Traceback (most recent call last):\n  File x\n"
        "spark_prune.formats.errors.ShardError: shard 3: a.npz ended after 9 rows\n"
    )
    assert _task_error_line(RuntimeError(wrapped)) == "shard 3: a.npz ended after 9 rows"
    other = "Job aborted.\norg.apache.spark.SparkException: Task failed: disk full\n"
    assert _task_error_line(RuntimeError(other)) == "SparkException: Task failed: disk full"
    assert _task_error_line(RuntimeError("\n  just a line \n")) == "just a line"
    assert _task_error_line(RuntimeError("")) == "RuntimeError"


def test_column_types_spark_cannot_carry_are_read_as_the_nearest_it_can(
    spark: SparkSession, tmp_path: Path
) -> None:
    """A pandas ``category`` column (dictionary-encoded), unsigned integers, float16, and a
    column that is all nulls in the first shard only: every row arrives, with its values."""
    layout = datacomp_dir(tmp_path / "dc", shard_rows=(5, 6))
    for index, path in enumerate(sorted(layout.path.glob("*.parquet"))):
        table = pq.read_table(path)
        n = table.num_rows
        table = table.set_column(2, "text", table.column("text").dictionary_encode())
        table = table.append_column("width_u32", pa.array(np.arange(n) + 2**31, pa.uint32()))
        table = table.append_column("big_u64", pa.array([2**64 - 1] * n, pa.uint64()))
        table = table.append_column("half", pa.array(np.full(n, 0.5, np.float16)))
        note = pa.nulls(n) if index == 0 else pa.array([f"note {i}" for i in range(n)])
        pq.write_table(table.append_column("note", note), path)
    cfg = config_from_dict({"input": input_config(layout, "datacomp"), "output": {"path": "x"}})
    frame = read_sharded(spark, cfg.input).frame
    types = dict(frame.dtypes)
    assert types["text"] == "string" and types["width_u32"] == "bigint"
    assert types["big_u64"] == "decimal(20,0)" and types["half"] == "float"
    assert types["note"] == "string"
    rows = frame.orderBy("width_u32", "note").collect()
    assert len(rows) == 11 and {r["uid"] for r in rows} == set(layout.ids)
    assert rows[-1]["width_u32"] == 2**31 + 5 and rows[0]["big_u64"] == 2**64 - 1
    assert {r["half"] for r in rows} == {0.5} and rows[0]["text"].startswith("caption ")
    assert sorted(r["note"] for r in rows if r["note"]) == sorted(f"note {i}" for i in range(6))


def test_an_unreadable_first_shard_is_named_and_hidden_files_are_not_shards(
    spark: SparkSession, tmp_path: Path
) -> None:
    layout = datacomp_dir(tmp_path / "dc", shard_rows=(4, 5))
    for junk in ("._00000000.parquet", "._00000000.npz", "_SUCCESS"):  # macOS copies, markers
        (layout.path / junk).write_bytes(b"\0" * 4096)
    cfg = config_from_dict({"input": input_config(layout, "datacomp"), "output": {"path": "x"}})
    assert read_sharded(spark, cfg.input).rows == 9
    first = layout.path / "00000000.parquet"
    first.write_bytes(first.read_bytes()[: first.stat().st_size // 2])
    with pytest.raises(ShardError, match=r"^shard 00000000 \(.*00000000.parquet, .*\) cannot be"):
        read_sharded(spark, cfg.input)
