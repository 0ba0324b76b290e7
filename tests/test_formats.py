"""``read_sharded`` (formats/__init__.py): a DataComp or clip-retrieval directory, picked by
``input.format``, read on the executors one task per shard, equal to the files."""

from __future__ import annotations

import numpy as np
import pyarrow.parquet as pq
import pytest
from pyspark.sql import SparkSession

from spark_prune.config_loader import config_from_dict
from spark_prune.formats import read_sharded
from tests.shard_fixtures import Layout, input_config


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
