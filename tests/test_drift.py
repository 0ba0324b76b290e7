"""Drift and ``incremental.refit`` (drift.py): with ``auto`` a drifted append makes the run a
full run on the new version; with ``warn`` a refit that is due is logged."""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from pyspark.sql import SparkSession

from spark_prune import contract, drift
from spark_prune.config import ConfigError
from spark_prune.config_loader import config_from_dict
from spark_prune.core.vectors import l2_normalize
from spark_prune.pipeline import RunResult, run
from tests.helpers import SCHEMA, embedding_rows, make_config, write_input

pytestmark = pytest.mark.slow  # run first under xdist (tests/conftest.py)

DIM, K = 8, 3
SECTIONS = {
    "semdedup": {"enabled": True, "eps": 0.05, "kmeans": {"k": K, "iterations": 5}},
    "dbp": {"keep_fraction": 0.5, "kmeans": {"k": K, "iterations": 5}},
}


def test_refit_must_be_warn_or_auto() -> None:
    raw = {"input": {"path": "/in"}, "output": {"path": "/out"}}
    assert config_from_dict(raw).incremental.refit == "warn"
    cfg = config_from_dict({**raw, "incremental": {"refit": "auto"}})
    assert cfg.incremental.refit == "auto"
    with pytest.raises(ConfigError, match=r"^incremental.refit: .*warn.*auto"):
        config_from_dict({**raw, "incremental": {"refit": "always"}})


def _run(spark: SparkSession, source: str, out: Path, version: int, **incr: object) -> RunResult:
    sections = {**SECTIONS, "input": {"version": version}, "incremental": dict(incr)}
    return run(spark, make_config(source, str(out), **sections))  # type: ignore[arg-type]


def _decisions(spark: SparkSession, result: RunResult) -> pd.DataFrame:
    frame = spark.read.format("delta").load(result.output.table_ref(contract.DECISIONS))
    return frame.toPandas().sort_values("id").reset_index(drop=True)


def test_auto_refits_a_drifted_append(
    spark: SparkSession, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    ids, x = embedding_rows(90, DIM, K, seed=5)
    source = write_input(spark, tmp_path / "in", ids, x)
    a = _run(spark, source, tmp_path / "a", 0)
    rng = np.random.default_rng(6)
    far = l2_normalize(-x[:15] + 0.05 * rng.standard_normal((15, DIM)).astype(np.float32))
    rows = [(int(500 + i), [float(v) for v in row], "far") for i, row in enumerate(far)]
    spark.createDataFrame(rows, SCHEMA).write.format("delta").mode("append").save(source)
    previous = str(tmp_path / "a")
    with caplog.at_level(logging.WARNING, logger="spark_prune"):
        auto = _run(spark, source, tmp_path / "auto", 1, previous_run=previous,
                    refit_above=0.1, refit="auto")  # fmt: skip
    assert "incremental.refit is auto, so this run is a full run" in caplog.text
    full = _run(spark, source, tmp_path / "full", 1)
    pd.testing.assert_frame_equal(_decisions(spark, auto), _decisions(spark, full))
    facts = auto.manifest["incremental"]
    assert facts["refit"] is True and facts["previous_run_id"] == a.run_id
    assert facts["drift"]["refit_due"] is True and facts["drift"]["share_beyond_p95"] > 0.1
    assert facts["drift"]["added_rows_in_dbp"] == 15
    assert auto.manifest["kmeans"]["dbp"]["method"] != "frozen"
    assert auto.manifest["semdedup"]["kmeans"] == full.manifest["semdedup"]["kmeans"]
    assert "incremental" not in auto.manifest["semdedup"]  # nothing reused

    kept = _run(spark, source, tmp_path / "kept", 1, previous_run=previous,
                refit_above=1.0, refit="auto")  # fmt: skip
    facts = kept.manifest["incremental"]
    before, in_dbp = facts["drift_before_stages"], facts["drift"]
    assert facts["refit"] is False and before["refit_due"] is False
    assert kept.manifest["kmeans"]["dbp"]["method"] == "frozen"
    # the previous run's percentile is measured once and used by both
    assert in_dbp["previous_dist_p95"] == before["previous_dist_p95"] > 0
    assert in_dbp["share_beyond_p95"] == before["share_beyond_p95"]


def test_warn_logs_that_a_refit_is_due(caplog: pytest.LogCaptureFixture) -> None:
    """``refit: warn`` (the DBP stage's call): the warning, only when due (the pipeline-level
    check that an incremental run reports ``refit_due`` is tests/test_incremental.py)."""
    facts = {"previous_dist_p95": 0.25, "added_rows_in_dbp": 20, "added_beyond_p95": 8,
             "share_beyond_p95": 0.4, "refit_above": 0.1, "refit_due": True}  # fmt: skip
    with caplog.at_level(logging.WARNING, logger="spark_prune"):
        drift.warn_if_due({**facts, "refit_due": False})
        assert caplog.text == ""
        drift.warn_if_due(facts)
    assert "40.0% of the 20 added rows lie beyond the previous rows' 95th percentile" in caplog.text
    assert "above incremental.refit_above 10.0%" in caplog.text
    assert "a full refit is due" in caplog.text and "incremental.refit: auto" in caplog.text
