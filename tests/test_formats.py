"""DataComp and clip-retrieval inputs: read on the executors, equal to the files, full runs."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from pyspark.sql import SparkSession

from spark_prune.cli import main
from spark_prune.config import ConfigError
from spark_prune.config_loader import config_from_dict
from spark_prune.formats import ShardError, read_sharded
from spark_prune.pipeline import run
from tests.shard_fixtures import Layout, clip_retrieval_dir, datacomp_dir


@pytest.fixture(scope="module")
def datacomp(tmp_path_factory: pytest.TempPathFactory) -> Layout:
    return datacomp_dir(tmp_path_factory.mktemp("datacomp") / "metadata")


@pytest.fixture(scope="module")
def clip_dir(tmp_path_factory: pytest.TempPathFactory) -> Layout:
    return clip_retrieval_dir(tmp_path_factory.mktemp("clip_retrieval") / "laion")


def input_config(layout: Layout, fmt: str, **extra: object) -> dict[str, object]:
    return {"path": str(layout.path), "format": fmt, **extra}


def frame_by_id(spark: SparkSession, raw: dict[str, object], id_col: str) -> dict[str, list]:
    cfg = config_from_dict({"input": raw, "output": {"path": "unused"}}).input
    sharded = read_sharded(spark, cfg)
    rows = sharded.frame.collect()  # a few dozen rows in a test
    return {r[id_col]: r for r in rows}, sharded  # type: ignore[return-value]


@pytest.mark.parametrize("key", ["l14_img", "b32_txt"])
def test_datacomp_rows_equal_the_files(spark: SparkSession, datacomp: Layout, key: str) -> None:
    raw = input_config(
        datacomp, "datacomp", id_column="uid", embedding_key=key, embedding_column="emb"
    )
    rows, sharded = frame_by_id(spark, raw, "uid")
    assert sharded.shards == 3 and sharded.rows == sum(datacomp.shard_rows)
    assert sharded.frame.rdd.getNumPartitions() == 3  # one task per shard
    assert list(rows) == datacomp.ids or sorted(rows) == sorted(datacomp.ids)
    got = np.array([rows[u]["emb"] for u in datacomp.ids], dtype=np.float32)
    np.testing.assert_array_equal(got, datacomp.arrays[key].astype(np.float32))
    first = pq.read_table(datacomp.path / "00000000.parquet").to_pylist()[0]
    row = rows[first["uid"]].asDict()
    assert row["face_bboxes"] == first["face_bboxes"]
    assert row["text"] == first["text"] and row["original_width"] == first["original_width"]
    schema = sharded.frame.schema
    assert schema["emb"].dataType.simpleString() == "array<float>"


def test_clip_retrieval_rows_equal_the_files(spark: SparkSession, clip_dir: Layout) -> None:
    raw = input_config(clip_dir, "clip-retrieval", id_column="key", embedding_key="text_emb")
    rows, sharded = frame_by_id(spark, raw, "key")
    assert sharded.shards == 2 and sorted(rows) == sorted(clip_dir.ids)
    got = np.array([rows[k]["image_emb"] for k in clip_dir.ids], dtype=np.float32)
    np.testing.assert_array_equal(got, clip_dir.arrays["text_emb"].astype(np.float32))
    assert rows[clip_dir.ids[0]]["caption"] == f"a photo {clip_dir.ids[0]}"


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


def test_missing_partner_and_unknown_key(spark: SparkSession, tmp_path: Path) -> None:
    layout = datacomp_dir(tmp_path / "dc", shard_rows=(5, 5))
    (layout.path / "00000001.npz").unlink()
    cfg = config_from_dict({"input": input_config(layout, "datacomp"), "output": {"path": "x"}})
    with pytest.raises(
        ShardError, match=r"shard 00000001: 00000001.parquet .* has no 00000001.npz"
    ):
        read_sharded(spark, cfg.input)
    with pytest.raises(ConfigError, match=r"input.embedding_key: must be one of"):
        config_from_dict(
            {
                "input": input_config(layout, "datacomp", embedding_key="l14"),
                "output": {"path": "x"},
            }
        )
    with pytest.raises(ConfigError, match=r"input.embedding_key: only applies"):
        config_from_dict(
            {"input": {"path": "p", "embedding_key": "img_emb"}, "output": {"path": "x"}}
        )
    with pytest.raises(ShardError, match=r"input.path: .* is not a directory"):
        read_sharded(
            spark,
            config_from_dict(
                {
                    "input": {"path": str(tmp_path / "nowhere"), "format": "datacomp"},
                    "output": {"path": "x"},
                }
            ).input,
        )


def test_datacomp_run_with_the_recipe_stages(
    spark: SparkSession, datacomp: Layout, tmp_path: Path
) -> None:
    cfg = config_from_dict(
        {
            "input": input_config(
                datacomp,
                "datacomp",
                id_column="uid",
                embedding_key="l14_img",
                embedding_column="l14_img",
                embedding_dim=12,
            ),
            "output": {"path": str(tmp_path / "run")},
            "semdedup": {"enabled": True, "eps": 0.01, "kmeans": {"k": 3, "iterations": 10}},
            "clip_filter": {
                "enabled": True,
                "score_column": "clip_l14_similarity_score",
                "keep_fraction": 0.8,
            },
            "dbp": {"keep_fraction": 0.5, "kmeans": {"k": 4, "iterations": 10}},
        }
    )
    result = run(spark, cfg)
    counts = result.counts
    assert counts["input"] == len(datacomp.ids)
    assert counts["semdedup"] >= 4  # the planted duplicates
    assert (
        counts["kept"] + sum(counts[r] for r in ("invalid", "semdedup", "clip_score", "dbp"))
        == counts["input"]
    )
    doc = json.loads((tmp_path / "run" / "manifest.json").read_text())
    assert doc["input"]["format"] == "datacomp" and doc["input"]["shards"] == 3
    assert doc["input"]["delta_version"] is None and doc["input"]["embedding_dim"] == 12
    pruned = spark.read.format("delta").load(str(tmp_path / "run" / "pruned"))
    assert {"uid", "url", "text", "l14_img"} <= set(pruned.columns)
    assert pruned.count() == counts["kept"]
    decided = spark.read.format("delta").load(str(tmp_path / "run" / "decisions"))
    assert sorted(r["uid"] for r in decided.select("uid").collect()) == sorted(datacomp.ids)


def test_clip_retrieval_run(spark: SparkSession, clip_dir: Layout, tmp_path: Path) -> None:
    cfg = config_from_dict(
        {
            "input": input_config(clip_dir, "clip-retrieval", id_column="key"),
            "output": {"path": str(tmp_path / "run")},
            "dbp": {"keep_fraction": 0.5, "kmeans": {"k": 4, "iterations": 10}},
        }
    )
    counts = run(spark, cfg).counts
    assert counts["input"] == len(clip_dir.ids) and counts["kept"] == len(clip_dir.ids) // 2
    doc = json.loads((tmp_path / "run" / "manifest.json").read_text())
    assert doc["input"]["format"] == "clip-retrieval" and doc["input"]["shards"] == 2


def test_float16_widening_is_exact() -> None:
    from spark_prune.formats.shards import embedding_array

    x = np.array([[0.1, -2.5], [65504.0, 1e-4]], dtype=np.float16)
    arr = embedding_array(x.astype(np.float32))
    assert arr.type == pa.list_(pa.float32())
    np.testing.assert_array_equal(np.array(arr.to_pylist(), np.float32), x.astype(np.float32))


def test_shard_missing_a_column_is_named_before_the_row_pass(
    spark: SparkSession, tmp_path: Path
) -> None:
    layout = datacomp_dir(tmp_path / "dc", shard_rows=(6, 7))
    second = layout.path / "00000001.parquet"
    pq.write_table(pq.read_table(second).drop_columns(["text"]), second)
    cfg = config_from_dict({"input": input_config(layout, "datacomp"), "output": {"path": "x"}})
    with pytest.raises(ShardError, match=r"^shard 00000001: .*00000001.parquet lacks columns text"):
        read_sharded(spark, cfg.input)
