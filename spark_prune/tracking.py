"""Optional MLflow run tracking: a finished run's resolved config, counts, timings and manifest.

On when ``tracking.mlflow`` is true, or when it is null (the default) and the environment sets
``MLFLOW_TRACKING_URI``; ``tracking.mlflow: false`` turns it off whatever the environment says.
MLflow is imported only when tracking is on. The tracking server is MLflow's own choice: the
URI in ``MLFLOW_TRACKING_URI``, or on Databricks the workspace's server.

Logged: every config key as a param (dotted names, ``dbp.kmeans.k``), ``counts.<name>``,
``timings_seconds.<stage>`` and ``kept_fraction`` as metrics, ``spark_prune.*`` tags, the
manifest as ``manifest.json``. ``spark-prune report`` later attaches ``report.html`` to the
MLflow run tagged with the same ``spark_prune.run_id`` (:func:`log_report`).
A failure to log is a warning: the run's tables and manifest are already written.
"""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Iterator, Mapping
from typing import Any

from spark_prune.config import PipelineConfig, TrackingConfig
from spark_prune.contract import MANIFEST_FILE, REPORT_FILE

log = logging.getLogger(__name__)

MAX_PARAM_CHARS = 6000  # MLflow's limit on a param value
PARAMS_PER_CALL = 100  # MLflow's limit on params in one batch


def enabled(cfg: TrackingConfig) -> bool:
    if cfg.mlflow is not None:
        return cfg.mlflow
    return bool(os.environ.get("MLFLOW_TRACKING_URI"))


def flatten(tree: Mapping[str, Any], prefix: str = "") -> Iterator[tuple[str, str]]:
    """``(dotted.key, value)`` for every leaf; non-strings as JSON (``null``, ``[1, 2]``)."""
    for key, value in tree.items():
        name = f"{prefix}{key}"
        if isinstance(value, Mapping) and value:
            yield from flatten(value, f"{name}.")
        else:
            text = value if isinstance(value, str) else json.dumps(value, default=str)
            yield name, text[:MAX_PARAM_CHARS]


def metrics(doc: Mapping[str, Any]) -> dict[str, float]:
    """Counts, stage timings and the kept fraction of a run's manifest."""
    found = {f"counts.{k}": float(v) for k, v in doc.get("counts", {}).items()}
    found.update({f"timings_seconds.{k}": float(v) for k, v in doc["timings_seconds"].items()})
    counts = doc.get("counts", {})
    if counts.get("input"):
        found["kept_fraction"] = counts["kept"] / counts["input"]
    return found


def log_run(cfg: PipelineConfig, doc: Mapping[str, Any]) -> str | None:
    """Log a finished run (its manifest ``doc``) to MLflow; the MLflow run id, or None."""
    if not enabled(cfg.tracking):
        return None
    try:
        return _log(cfg, doc)
    except Exception as exc:  # the outputs are written; tracking must not lose them
        log.warning("MLflow tracking failed, the run itself is complete: %s", exc)
        return None


def _log(cfg: PipelineConfig, doc: Mapping[str, Any]) -> str:
    import mlflow

    if cfg.tracking.experiment:
        mlflow.set_experiment(cfg.tracking.experiment)
    name = cfg.tracking.run_name or str(doc["run_id"])
    with mlflow.start_run(run_name=name, nested=mlflow.active_run() is not None) as active:
        params = dict(flatten(doc["config"]))
        keys = sorted(params)
        for start in range(0, len(keys), PARAMS_PER_CALL):
            mlflow.log_params({k: params[k] for k in keys[start : start + PARAMS_PER_CALL]})
        mlflow.log_metrics(metrics(doc))
        mlflow.set_tags(
            {
                "spark_prune.run_id": doc["run_id"],
                "spark_prune.input": doc["input"]["path"],
                "spark_prune.input_format": doc["input"]["format"],
                "spark_prune.output": cfg.output.catalog_schema or cfg.output.path,
            }
        )
        mlflow.log_dict(dict(doc), MANIFEST_FILE)
        run_id = str(active.info.run_id)
    log.info("[%s] logged to MLflow run %s", doc["run_id"], run_id)
    return run_id


def log_report(doc: Mapping[str, Any], page: str) -> str | None:
    """Attach a run's HTML report to the MLflow run that logged it; that MLflow run id, or None.

    Tracking is on or off by the run's own ``tracking`` config (its manifest) and the
    environment, as for :func:`log_run`.
    """
    cfg = TrackingConfig(**doc.get("config", {}).get("tracking", {}))
    if not enabled(cfg):
        return None
    try:
        return _log_report(cfg, str(doc["run_id"]), page)
    except Exception as exc:  # the report file is written; tracking must not fail the command
        log.warning("MLflow: the report could not be logged: %s", exc)
        return None


def _log_report(cfg: TrackingConfig, run_id: str, page: str) -> str | None:
    from mlflow import MlflowClient

    client = MlflowClient()
    if cfg.experiment:
        experiment = client.get_experiment_by_name(cfg.experiment)
        ids = [experiment.experiment_id] if experiment is not None else []
    else:
        ids = [e.experiment_id for e in client.search_experiments()]
    quoted = run_id.replace("\\", "\\\\").replace("'", "\\'")
    found = client.search_runs(
        ids,
        filter_string=f"tags.`spark_prune.run_id` = '{quoted}'",
        order_by=["attributes.start_time DESC"],
        max_results=1,
    )
    if not found:
        log.warning("MLflow: no run is tagged spark_prune.run_id=%s; report not logged", run_id)
        return None
    mlflow_run = str(found[0].info.run_id)
    client.log_text(mlflow_run, page, REPORT_FILE)
    log.info("[%s] report logged to MLflow run %s", run_id, mlflow_run)
    return mlflow_run
