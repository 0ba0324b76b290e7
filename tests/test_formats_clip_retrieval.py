"""clip-retrieval / LAION shards (formats/clip_retrieval.py): pairing of ``metadata_N.parquet``
with ``<key>_N.npy``, and a full run on a clip-retrieval layout."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from pyspark.sql import SparkSession

from spark_prune.config_loader import config_from_dict
from spark_prune.formats.clip_retrieval import DEFAULT_KEY, find_shards
from spark_prune.formats.errors import ShardError
from spark_prune.pipeline import run
from tests.shard_fixtures import Layout, input_config


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


def _touch(root: Path, *names: str) -> None:
    for name in names:
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_bytes(b"")


def test_shards_pair_metadata_and_arrays_by_number(tmp_path: Path) -> None:
    _touch(
        tmp_path,
        "metadata/metadata_10.parquet",
        "metadata/metadata_2.parquet",
        "img_emb/img_emb_10.npy",
        "img_emb/img_emb_2.npy",
        "text_emb/text_emb_2.npy",
        "metadata/notes.txt",
    )
    shards = find_shards(str(tmp_path), None)
    assert DEFAULT_KEY == "img_emb"
    assert [s.name for s in shards] == ["2", "10"]  # numerically, not as text
    assert shards[1].parquet == f"{tmp_path}/metadata/metadata_10.parquet"
    assert shards[1].array == f"{tmp_path}/img_emb/img_emb_10.npy"
    assert {s.member for s in shards} == {None}  # plain .npy files
    with pytest.raises(ShardError, match=r"^shard 10: metadata_10.parquet has no text_emb/"):
        find_shards(str(tmp_path), "text_emb")


def test_an_array_without_metadata_names_the_shard(tmp_path: Path) -> None:
    _touch(tmp_path, "metadata/metadata_0.parquet", "img_emb/img_emb_0.npy")
    _touch(tmp_path, "img_emb/img_emb_1.npy")
    with pytest.raises(ShardError, match=r"^shard 1: img_emb_1.npy has no metadata_1.parquet"):
        find_shards(str(tmp_path), None)


def test_two_files_for_one_shard_number_are_named(tmp_path: Path) -> None:
    """``metadata_1`` and ``metadata_01`` are both shard 1: one of them was dropped silently."""
    _touch(tmp_path, "metadata/metadata_1.parquet", "metadata/metadata_01.parquet")
    _touch(tmp_path, "img_emb/img_emb_1.npy")
    with pytest.raises(
        ShardError, match=r"^shard 1: metadata_01.parquet and metadata_1.parquet are both shard 1"
    ):
        find_shards(str(tmp_path), None)


def test_shards_of_different_widths_are_named(spark: SparkSession, tmp_path: Path) -> None:
    from spark_prune.formats.reader import read_shards
    from tests.shard_fixtures import clip_retrieval_dir

    layout = clip_retrieval_dir(tmp_path / "cr")
    wider = tmp_path / "cr" / "img_emb" / "img_emb_1.npy"
    np.save(wider, np.ones((30, 14), np.float16))  # shard 1: 14 values, shard 0: 10
    with pytest.raises(ShardError, match="different widths: 10 .*img_emb_0.npy.*, 14 .*img_emb_1"):
        read_shards(spark, find_shards(str(layout.path), DEFAULT_KEY), "image_emb", "cr")
