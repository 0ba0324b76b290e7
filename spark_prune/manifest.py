"""The run manifest: provenance, counts and the Delta version of every output table.

Built from the run's facts and the stages' typed reports; written last, so a location whose
manifest is missing holds no complete run.
"""

from __future__ import annotations

import json
import platform
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timezone
from importlib import metadata
from typing import Any

from pyspark.sql import SparkSession

from spark_prune.config import PipelineConfig
from spark_prune.lake import read_text, write_text
from spark_prune.stages.base import StageReport

MANIFEST_VERSION = 1
PACKAGES = (
    "spark-prune",
    "pyspark",
    "delta-spark",
    "numpy",
    "pandas",
    "pyarrow",
    "faiss-cpu",
    "torch",
    "open_clip_torch",
)
NUMERICS = {
    "embeddings": "float32, L2-normalised on read",
    "similarity": "float64 matrix products rounded to float32 (batch-independent)",
    "distance": "float64, 1 - similarity",
    "d_intra_sum": "exact decimal(38,18) sum",
}


@dataclass(frozen=True)
class RunFacts:
    """What the run itself knows (the stages report the rest)."""

    run_id: str
    started: str
    input_version: int | None
    counts: Mapping[str, int]
    timings: Mapping[str, float]
    outputs: Mapping[str, Mapping[str, Any]]  # table -> location, delta_version
    input_shards: int | None = None  # DataComp / clip-retrieval inputs
    input_files: str | None = None  # an input without a Delta version: its files' digest
    incremental: Mapping[str, Any] | None = None  # incremental runs: the previous run, changes


def versions() -> dict[str, str]:
    found = {"python": platform.python_version()}
    for name in PACKAGES:
        try:
            found[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            continue
    return found


def build(
    spark: SparkSession, cfg: PipelineConfig, run: RunFacts, reports: Sequence[StageReport]
) -> dict[str, Any]:
    doc: dict[str, Any] = {
        "manifest_version": MANIFEST_VERSION,
        "run_id": run.run_id,
        "started": run.started,
        "finished": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "input": {
            "path": cfg.input.path,
            "format": cfg.input.format,
            "delta_version": run.input_version,
            "shards": run.input_shards,
            "files_fingerprint": run.input_files,
            "id_column": cfg.input.id_column,
            "embedding_column": cfg.input.embedding_column,
            "embedding_dim": None,
        },
        "config": cfg.to_dict(),
        "seeds": {
            "dbp_kmeans": cfg.dbp.kmeans.seed,
            "dbp": cfg.dbp.seed,
            "semdedup_kmeans": cfg.semdedup.kmeans.seed,
            "semdedup": cfg.semdedup.seed,
        },
        "numerics": NUMERICS,
        "kmeans": {"dbp": None, "dbp_empty_clusters": None},
        "dbp": {"rows_in": None, "target": None},
        "semdedup": None,
        "embed": None,
        "incremental": dict(run.incremental) if run.incremental is not None else None,
        "stages": [_stage_summary(r, run.timings) for r in reports],
        "counts": dict(run.counts),
        "timings_seconds": dict(run.timings),
        "outputs": {name: dict(info) for name, info in run.outputs.items()},
        "versions": versions(),
        "spark": {"version": spark.version, "master": _master(spark)},
        "command": " ".join(sys.argv),
    }
    for report in reports:
        _merge(doc, report.manifest_entries())
    return doc


def _stage_summary(report: StageReport, timings: Mapping[str, float]) -> dict[str, Any]:
    return {
        "stage": report.stage,
        "rows_in": report.rows_in,
        "removed": report.removed,
        "invalid": report.invalid,
        "seconds": timings.get(report.stage),
    }


def _merge(doc: dict[str, Any], entries: Mapping[str, Any]) -> None:
    for key, value in entries.items():
        if isinstance(value, Mapping) and isinstance(doc.get(key), dict):
            _merge(doc[key], value)
        else:
            doc[key] = value


def _master(spark: SparkSession) -> str | None:
    try:
        return spark.conf.get("spark.master", None)
    except Exception:  # not readable on some Spark Connect servers
        return None


def write(spark: SparkSession, path: str, doc: dict[str, Any]) -> None:
    write_text(spark, path, json.dumps(doc, indent=2, sort_keys=True, default=str) + "\n")


def read(spark: SparkSession, path: str) -> dict[str, Any]:
    return dict(json.loads(read_text(spark, path)))
