"""DataComp metadata shards (formats/datacomp.py): pairing of ``.parquet`` and ``.npz`` files,
and conf/datacomp.yaml run on a DataComp layout."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from pyspark.sql import SparkSession

from spark_prune.config_loader import load_config
from spark_prune.formats.datacomp import DEFAULT_KEY, find_shards
from spark_prune.formats.errors import ShardError
from spark_prune.pipeline import run
from tests.shard_fixtures import Layout, datacomp_dir


def test_datacomp_run_with_the_recipe_stages(
    spark: SparkSession, datacomp: Layout, tmp_path: Path
) -> None:
    """conf/datacomp.yaml itself, scaled down: only sizes and the paths are overridden."""
    recipe = Path(__file__).resolve().parents[1] / "conf" / "datacomp.yaml"
    scaled = [f"input.path={datacomp.path}", "input.embedding_dim=12",
              f"output.path={tmp_path / 'run'}", "semdedup.eps=0.01", "semdedup.kmeans.k=3",
              "semdedup.kmeans.iterations=10", "clip_filter.keep_fraction=0.8",
              "dbp.kmeans.k=4", "dbp.kmeans.iterations=10", "tracking.mlflow=false"]  # fmt: skip
    cfg = load_config(recipe, scaled)
    assert cfg.input.format == "datacomp" and cfg.input.embedding_key == "l14_img"
    assert cfg.clip_filter.score_column == "clip_l14_similarity_score"
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
    # the shards' own clip_l14_similarity_score drove the CLIP filter: it cut the lowest scores
    scored = decided.filter("clip_score IS NOT NULL").select("clip_score", "reason").toPandas()
    cut = scored[scored["reason"] == "clip_score"]["clip_score"]
    passed = scored[scored["reason"] != "clip_score"]["clip_score"]
    assert counts["clip_score"] == len(cut) > 0 and cut.max() <= passed.min()


def test_shards_pair_parquet_and_npz_by_stem(tmp_path: Path) -> None:
    for name in ("00000001.parquet", "00000001.npz", "00000000.parquet", "00000000.npz", "x.txt"):
        (tmp_path / name).write_bytes(b"")
    shards = find_shards(str(tmp_path), None)
    assert [s.name for s in shards] == ["00000000", "00000001"]  # sorted by stem
    assert shards[1].parquet == f"{tmp_path}/00000001.parquet"
    assert shards[1].array == f"{tmp_path}/00000001.npz"
    assert {s.member for s in shards} == {DEFAULT_KEY} == {"l14_img"}
    assert find_shards(str(tmp_path), "b32_txt")[0].member == "b32_txt"


def test_a_file_without_its_partner_names_the_shard(tmp_path: Path) -> None:
    layout = datacomp_dir(tmp_path / "dc", shard_rows=(5, 5))
    (layout.path / "00000001.npz").unlink()
    with pytest.raises(ShardError, match=r"^shard 00000001: 00000001.parquet .* no 00000001.npz"):
        find_shards(str(layout.path), None)
    (layout.path / "00000000.parquet").unlink()
    with pytest.raises(ShardError, match=r"^shard 00000000: 00000000.npz in .* has no .parquet"):
        find_shards(str(layout.path), None)
