"""MLflow tracking: a run logged to a local file store and read back; nothing imported when off."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from pyspark.sql import SparkSession

from spark_prune import tracking
from spark_prune.config import TrackingConfig
from spark_prune.pipeline import run
from spark_prune.report import write_report
from tests.helpers import make_config, write_input
from tests.shard_fixtures import clustered

OFF_CHECK = """
import sys
from spark_prune import cli, pipeline, tracking
from spark_prune.config_loader import config_from_dict
doc = {"run_id": "r", "config": {}, "counts": {"input": 1, "kept": 1}, "timings_seconds": {}}
for mlflow_key in ({}, {"mlflow": False}):
    cfg = config_from_dict({"input": {"path": "p"}, "output": {"path": "o"},
                            "tracking": mlflow_key})
    assert tracking.log_run(cfg, doc) is None
print(sorted(m for m in sys.modules if m == "mlflow" or m.startswith("mlflow.")))
"""


@pytest.mark.parametrize("uri", [None, "file:/nowhere/mlruns"])
def test_off_imports_no_mlflow(uri: str | None) -> None:
    """Off by default; ``mlflow: false`` wins over MLFLOW_TRACKING_URI; mlflow never imported."""
    env = {k: v for k, v in os.environ.items() if k != "MLFLOW_TRACKING_URI"}
    script = OFF_CHECK
    if uri is not None:  # with the variable set only the explicit false may be tested
        env["MLFLOW_TRACKING_URI"] = uri
        script = script.replace('({}, {"mlflow": False})', '({"mlflow": False},)')
    out = subprocess.run(
        [sys.executable, "-c", script], env=env, capture_output=True, text=True, check=True
    )
    assert out.stdout.strip() == "[]"


def test_enabled_rule(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    assert not tracking.enabled(TrackingConfig())
    assert tracking.enabled(TrackingConfig(mlflow=True))
    monkeypatch.setenv("MLFLOW_TRACKING_URI", "databricks")
    assert tracking.enabled(TrackingConfig())
    assert not tracking.enabled(TrackingConfig(mlflow=False))


def test_flatten_and_metrics() -> None:
    tree = {
        "dbp": {"tau": 0.1, "kmeans": {"k": 5}},
        "run_id": None,
        "spark": {"conf": {}},
        "embed": {"image_mean": [0.5, 0.4], "model": "ViT-B-32"},
    }
    assert dict(tracking.flatten(tree)) == {
        "dbp.tau": "0.1",
        "dbp.kmeans.k": "5",
        "run_id": "null",
        "spark.conf": "{}",
        "embed.image_mean": "[0.5, 0.4]",
        "embed.model": "ViT-B-32",
    }
    doc = {"counts": {"input": 8, "kept": 2}, "timings_seconds": {"dbp.fit": 1.5}}
    assert tracking.metrics(doc) == {
        "counts.input": 8.0,
        "counts.kept": 2.0,
        "timings_seconds.dbp.fit": 1.5,
        "kept_fraction": 0.25,
    }


def test_run_logged_to_a_file_store(
    spark: SparkSession, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from mlflow import MlflowClient

    store = f"file:{tmp_path / 'mlruns'}"
    monkeypatch.setenv("MLFLOW_TRACKING_URI", store)
    monkeypatch.setenv("MLFLOW_ALLOW_FILE_STORE", "true")  # MLflow 3 keeps it opt-in
    rng = np.random.default_rng(3)
    x = clustered(80, 8, rng).astype(np.float32)
    source = write_input(spark, tmp_path / "in", np.arange(80), x)
    out = tmp_path / "out"
    out.mkdir()
    (out / "report.html").write_text("<html>an earlier report</html>")
    cfg = make_config(
        source,
        str(out),
        tracking={"experiment": "pruning-tests"},
        dbp={"kmeans": {"k": 3, "iterations": 10}},
    )
    result = run(spark, cfg)

    client = MlflowClient(store)
    experiment = client.get_experiment_by_name("pruning-tests")
    assert experiment is not None
    (logged,) = client.search_runs([experiment.experiment_id])
    assert logged.info.run_name == result.run_id
    params = logged.data.params
    assert params["dbp.keep_fraction"] == "0.5" and params["dbp.kmeans.k"] == "3"
    assert params["input.path"] == source and params["semdedup.enabled"] == "false"
    metrics = logged.data.metrics
    for name, value in result.counts.items():
        assert metrics[f"counts.{name}"] == value
    assert metrics["kept_fraction"] == result.counts["kept"] / 80
    assert set(result.manifest["timings_seconds"]) == {
        k.removeprefix("timings_seconds.") for k in metrics if k.startswith("timings_seconds.")
    }
    assert logged.data.tags["spark_prune.run_id"] == result.run_id
    artifacts = {a.path for a in client.list_artifacts(logged.info.run_id)}
    assert artifacts == {"manifest.json"}  # the earlier run's report was removed, not logged
    assert not (out / "report.html").exists()
    local = client.download_artifacts(logged.info.run_id, "manifest.json", str(tmp_path))
    assert json.loads(Path(local).read_text())["counts"] == result.counts

    write_report(spark, str(out), str(out / "report.html"), thumbnails_column=None)
    artifacts = {a.path for a in client.list_artifacts(logged.info.run_id)}
    assert artifacts == {"manifest.json", "report.html"}
    page = client.download_artifacts(logged.info.run_id, "report.html", str(tmp_path / "dl"))
    assert Path(page).read_text() == (out / "report.html").read_text()
    assert result.run_id in Path(page).read_text()


def test_report_of_an_untracked_run_is_not_logged(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """A report of a run that MLflow never saw is a warning naming the run id, not an error."""
    from mlflow import MlflowClient

    store = f"file:{tmp_path / 'mlruns'}"
    monkeypatch.setenv("MLFLOW_TRACKING_URI", store)
    monkeypatch.setenv("MLFLOW_ALLOW_FILE_STORE", "true")
    MlflowClient(store).create_experiment("other")
    doc = {"run_id": "it's-20261125", "config": {"tracking": {"mlflow": True}}}
    with caplog.at_level("WARNING", logger="spark_prune.tracking"):
        assert tracking.log_report(doc, "<html></html>") is None
    assert "spark_prune.run_id=it's-20261125" in caplog.text
    off = {"run_id": "r", "config": {"tracking": {"mlflow": False}}}
    assert tracking.log_report(off, "<html></html>") is None
