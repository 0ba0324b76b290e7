"""Checkpoint keys: a changed config section or input version (or files, for an input without
a version) invalidates exactly the stage it belongs to and the stages after it; a checkpoint
resumes only for the rows it holds."""

from __future__ import annotations

import logging
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from pyspark.sql import SparkSession

from spark_prune import pipeline
from spark_prune.config_loader import config_from_dict
from spark_prune.pipeline import run
from spark_prune.resume import input_identity, stage_keys
from spark_prune.stages import REGISTRY
from tests.helpers import SCHEMA, near_copies, unit

RAW = {
    "input": {"path": "/lake/t"},
    "output": {"path": "/runs/r"},
    "semdedup": {"enabled": True, "kmeans": {"k": 4}},
    "dbp": {"kmeans": {"k": 4}},
}


def _keys(cfg, version=3, extra=None):  # type: ignore[no-untyped-def]
    enabled = [s for s in REGISTRY if s.enabled(cfg)]
    return stage_keys(cfg, enabled, input_identity(cfg, version), extra)


def test_keys_change_only_from_the_changed_stage_on() -> None:
    cfg = config_from_dict(RAW)
    base = _keys(cfg)
    assert list(base) == ["validate", "semdedup", "dbp"]
    assert _keys(cfg) == base  # deterministic across calls (and processes: no object ids)

    tau = _keys(replace(cfg, dbp=replace(cfg.dbp, tau=0.2)))
    assert tau["validate"] == base["validate"] and tau["semdedup"] == base["semdedup"]
    assert tau["dbp"] != base["dbp"]

    eps = _keys(replace(cfg, semdedup=replace(cfg.semdedup, eps=0.1)))
    assert eps["validate"] == base["validate"]
    assert eps["semdedup"] != base["semdedup"] and eps["dbp"] != base["dbp"]

    newer = _keys(cfg, version=4)
    assert all(newer[name] != base[name] for name in base)
    assert _keys(cfg, extra={"rethreshold": True})["semdedup"] != base["semdedup"]


def test_output_settings_do_not_invalidate() -> None:
    cfg = config_from_dict(RAW)
    moved = replace(cfg, output=replace(cfg.output, keep_checkpoints=True, mode="overwrite"))
    assert _keys(moved) == _keys(cfg)


def test_selection_rule_keys_belong_to_their_stage() -> None:
    """semdedup.keep_by / border_margin and dbp.strategy / hierarchy are part of their stage's
    config section: changing one recomputes that stage (and the ones after it), not earlier ones."""
    cfg = config_from_dict(RAW)
    base = _keys(cfg)
    for semdedup in (
        {"keep_by": {"column": "pixels", "order": "asc"}},
        {"border_margin": 0.05},
    ):
        changed = _keys(config_from_dict({**RAW, "semdedup": {**RAW["semdedup"], **semdedup}}))
        assert changed["validate"] == base["validate"], semdedup
        assert changed["semdedup"] != base["semdedup"] and changed["dbp"] != base["dbp"]
    for dbp in ({"strategy": "hierarchical"}, {"hierarchy": {"k": [2]}}):
        changed = _keys(config_from_dict({**RAW, "dbp": {**RAW["dbp"], **dbp}}))
        assert changed["semdedup"] == base["semdedup"] and changed["dbp"] != base["dbp"], dbp
    evaluate = config_from_dict({**RAW, "evaluate": {"label_column": "label"}})
    assert _keys(evaluate) == base  # evaluate is not a stage of run


def test_an_input_without_a_version_is_keyed_by_its_files() -> None:
    cfg = config_from_dict(RAW)
    enabled = [s for s in REGISTRY if s.enabled(cfg)]
    delta = stage_keys(cfg, enabled, input_identity(cfg, 3))
    assert stage_keys(cfg, enabled, input_identity(cfg, 3, files=None)) == delta
    one = stage_keys(cfg, enabled, input_identity(cfg, None, files="aaa"))
    other = stage_keys(cfg, enabled, input_identity(cfg, None, files="bbb"))
    assert all(one[name] != other[name] for name in one)
    sharded = config_from_dict({**RAW, "input": {"path": "/dc", "format": "datacomp"}})
    keyed = [
        stage_keys(sharded, enabled, input_identity(replace(sharded, input=source), None, "f"))
        for source in (
            replace(sharded.input, embedding_key="l14_img"),
            replace(sharded.input, embedding_key="b32_img"),
        )
    ]
    assert keyed[0]["validate"] != keyed[1]["validate"]


@pytest.mark.parametrize("digest", ["files", "unchanged", "untouched"])
def test_a_rerun_after_parquet_files_changed_does_not_resume_their_old_rows(
    spark: SparkSession,
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
    monkeypatch: pytest.MonkeyPatch,
    digest: str,
) -> None:
    """Kept checkpoints of a Parquet input, then a new file lands. ``files``: the files digest
    changes the keys, nothing resumes. ``unchanged``: as if the change went unseen (one digest
    for every listing), the row guard refuses the checkpoints. Either way the rerun decides
    what a fresh run decides; the new rows were kept unpruned before. ``untouched``: nothing
    changed, both stages resume."""
    if digest == "unchanged":
        monkeypatch.setattr(pipeline, "files_fingerprint", lambda cfg, frame: "same")
    rng = np.random.default_rng(5)
    x = unit(rng, 300, 16)
    x[250:260] = near_copies(rng, x[:10], 0.01)  # new rows that copy old ones
    rows = [(i, [float(v) for v in row], f"r{i}") for i, row in enumerate(x)]
    frame = spark.createDataFrame(rows, SCHEMA)
    source = tmp_path / "pq"
    frame.filter("id < 240").write.parquet(str(source))
    raw: dict[str, Any] = {
        "input": {"path": str(source), "format": "parquet"},
        "output": {"path": str(tmp_path / "out"), "mode": "overwrite", "keep_checkpoints": True},
        "semdedup": {"enabled": True, "eps": 0.05, "kmeans": {"k": 3}},
        "dbp": {"keep_fraction": 0.5, "kmeans": {"k": 4}},
    }
    first = run(spark, config_from_dict(raw))
    if digest == "untouched":  # nothing changed: listed again, the same digest resumes
        with caplog.at_level(logging.INFO):
            same = run(spark, config_from_dict(raw))
        assert "semdedup: resumed from checkpoint" in caplog.text
        assert "dbp: resumed from checkpoint" in caplog.text
        assert same.counts == first.counts and "holds other rows" not in caplog.text
        return
    frame.filter("id >= 240").write.mode("append").parquet(str(source))
    with caplog.at_level(logging.INFO):
        again = run(spark, config_from_dict(raw))
    assert "resumed from checkpoint" not in caplog.text
    guarded = "checkpoint holds other rows than the stage receives now" in caplog.text
    assert guarded == (digest == "unchanged")
    changed = (
        first.manifest["input"]["files_fingerprint"] != again.manifest["input"]["files_fingerprint"]
    )
    assert changed == (digest == "files")
    fresh = run(spark, config_from_dict({**raw, "output": {"path": str(tmp_path / "fresh")}}))
    assert again.counts == fresh.counts and again.counts["input"] == 300
    assert again.counts["semdedup"] >= 10 and again.counts["kept"] > 100
    columns = ["id", "kept", "reason", "semdedup_max_sim", "cluster_id", "rank_in_cluster"]
    got = again.output.read(spark, "decisions").select(*columns).orderBy("id").collect()
    assert got == fresh.output.read(spark, "decisions").select(*columns).orderBy("id").collect()
