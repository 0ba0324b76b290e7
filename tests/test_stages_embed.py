"""The embed stage of a run (stages/embed.py): what it declares, its cache table, and the
``spark-prune embed`` step that runs it alone."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from pyspark.sql import SparkSession

from spark_prune import cli
from spark_prune.config import PipelineConfig
from spark_prune.config_loader import config_from_dict
from spark_prune.errors import ConfigError
from spark_prune.stages import REGISTRY
from spark_prune.stages.embed import EmbedStage, embed_with_cache
from tests.embed_fixtures import offline_overrides, photo_frame

JOBS_EMBED = Path(__file__).resolve().parents[1] / "jobs" / "embed.py"


def _config(embed: dict[str, object], **output: str) -> PipelineConfig:
    return config_from_dict({"input": {"path": "/lake/t"}, "output": output, "embed": embed})


def test_the_stage_declares_no_decisions() -> None:
    stage = EmbedStage()
    assert REGISTRY[0].name == stage.name == "embed"  # first: later stages read its columns
    assert stage.reason is None and stage.columns == () and dict(stage.tables) == {}
    assert not stage.enabled(_config({}, path="/runs/r"))
    assert stage.enabled(_config({"enabled": True}, path="/runs/r"))
    assert stage.input_columns(_config({}, path="/runs/r")) == []


def test_the_cache_table_defaults_to_the_output() -> None:
    cfg = _config({"image_column": "image"}, path="/runs/r1/")
    cached = embed_with_cache(cfg)
    assert cached.embed.enabled and cached.embed.cache_path == "/runs/r1/embeddings"
    assert not cfg.embed.enabled and cfg.embed.cache_path is None
    own = _config({"cache_path": "/lake/emb"}, path="/runs/r1")
    assert embed_with_cache(own).embed.cache_path == "/lake/emb"
    catalog = _config({}, catalog_schema="lake.runs", manifest_path="/m/manifest.json")
    assert embed_with_cache(catalog).embed.cache_path == "lake.runs.embeddings"
    bare = embed_with_cache(_config({"image_column": None, "text_column": None}, path="/r"))
    with pytest.raises(ConfigError, match=r"^embed.image_column: set image_column, text_column"):
        bare.embed.check_ready()  # before Spark, as the stage is about to run


def test_embed_command(
    spark: SparkSession,
    checkpoint: Path,
    variants: list[tuple[str, str, bytes]],
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    source = str(tmp_path / "input")
    photo_frame(spark, variants[:2]).write.format("delta").save(source)
    output = tmp_path / "out"
    argv = [
        "--set",
        f"input.path={source}",
        "--set",
        f"output.path={output}",
        *(arg for item in offline_overrides() for arg in ("--set", item)),
        "--set",
        "embed.text_column=null",
    ]
    assert cli.main(["embed", *argv]) == 0
    printed = json.loads(capsys.readouterr().out)
    assert (printed["embedded"], printed["input_version"]) == (2, 0)
    stored = spark.read.format("delta").load(str(output / "embeddings"))
    assert stored.filter("image_emb IS NOT NULL").count() == 2
    assert cli.main(["embed", *argv]) == 0  # a rerun embeds nothing new
    assert json.loads(capsys.readouterr().out)["embedded"] == 0
    assert cli.main(["embed", "--set", "input.path=", "--set", "output.path=x"]) == 2
    assert JOBS_EMBED.read_text().count('main(["embed"') == 1  # spark-submit entry point
