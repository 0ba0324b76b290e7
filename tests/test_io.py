"""Reading the pinned input and locating the run's outputs (io.py)."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
from pyspark.sql import SparkSession

from spark_prune.config import InputConfig, OutputConfig
from spark_prune.config_loader import config_from_dict
from spark_prune.errors import InputError
from spark_prune.io import (
    OutputExistsError,
    OutputLocation,
    absolute_local_path,
    read_input,
    with_absolute_paths,
)
from spark_prune.lake import write_text
from tests.helpers import make_config, write_input


def test_read_input_pins_the_delta_version(spark: SparkSession, tmp_path: Path) -> None:
    path = write_input(spark, tmp_path / "in", np.arange(4), np.ones((4, 2)))
    extra = (
        spark.read.format("delta").load(path).selectExpr("id + 10 AS id", "image_emb", "caption")
    )
    extra.write.format("delta").mode("append").save(path)
    latest, version = read_input(spark, InputConfig(path=path))
    assert version == 1 and latest.count() == 8
    pinned, version = read_input(spark, InputConfig(path=path, version=0))
    assert version == 0 and pinned.count() == 4
    with pytest.raises(InputError, match=r"input.path .*nowhere. does not exist"):
        read_input(spark, InputConfig(path=str(tmp_path / "nowhere")))
    spark.read.format("delta").load(path).write.parquet(str(tmp_path / "pq"))
    df, version = read_input(spark, InputConfig(path=str(tmp_path / "pq"), format="parquet"))
    assert version is None and df.count() == 8


def test_relative_paths_become_absolute(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    assert absolute_local_path("a/b") == str(tmp_path / "a" / "b")
    assert absolute_local_path("s3a://bucket/x") == "s3a://bucket/x"
    assert absolute_local_path("/abs/x") == "/abs/x"
    cfg = make_config("in", "out")
    cfg = replace(cfg, output=replace(cfg.output, manifest_path="m.json"))
    done = with_absolute_paths(cfg)
    assert done.input.path == str(tmp_path / "in")
    assert done.output.path == str(tmp_path / "out")
    assert done.output.manifest_path == str(tmp_path / "m.json")
    table = config_from_dict(
        {"input": {"path": "db.events", "format": "table"}, "output": {"path": "o"}}
    )
    assert with_absolute_paths(table).input.path == "db.events"


def test_output_location(spark: SparkSession, tmp_path: Path) -> None:
    catalog = OutputLocation(OutputConfig(catalog_schema="sch", manifest_path="/m.json"))
    assert catalog.table_ref("clusters") == "sch.clusters" and catalog.manifest_path == "/m.json"
    out = OutputLocation(OutputConfig(path=str(tmp_path / "run") + "/"))
    assert out.table_ref("decisions") == f"{tmp_path}/run/decisions"
    assert out.manifest_path == f"{tmp_path}/run/manifest.json"
    out.check_writable(spark)
    assert out.write(spark.range(3), "decisions", {"stage": "test"}) == 0
    assert out.existing_tables(spark) == ["decisions"] and out.read(spark, "decisions").count() == 3
    out.check_writable(spark)  # tables without a manifest: an incomplete run, finished by a rerun
    write_text(spark, out.manifest_path, "{}")
    with pytest.raises(OutputExistsError, match=r"already has a run \(tables decisions\); set"):
        out.check_writable(spark)
    OutputLocation(replace(out.cfg, mode="overwrite")).check_writable(spark)
