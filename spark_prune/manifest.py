"""The run manifest (provenance and counts) and the small tables built on the driver."""

from __future__ import annotations

import json
import platform
import sys
from datetime import datetime, timezone
from importlib import metadata
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd
from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F
from pyspark.sql import types as T

from spark_prune.contract import MANIFEST_FILE, TABLES
from spark_prune.errors import IncompleteRunError, RunNotFoundError, is_spark_error
from spark_prune.io import (
    OutputLocation,
    delta_exists,
    is_local_path,
    local_path,
    read_text,
    write_text,
)

if TYPE_CHECKING:
    from spark_prune.config import PipelineConfig
    from spark_prune.pipeline import RunState

MANIFEST_VERSION = 1
# Above this many kept ids the pruned table is built with a shuffle join instead of a broadcast.
BROADCAST_IDS_MAX = 5_000_000
REASONS = ("invalid", "semdedup", "clip_score", "dbp")
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

CLUSTER_SCHEMA = T.StructType(
    [
        T.StructField("cluster_id", T.IntegerType(), False),
        T.StructField("centroid", T.ArrayType(T.FloatType(), False), False),
        T.StructField("size", T.LongType(), False),
        T.StructField("d_intra", T.DoubleType(), False),
        T.StructField("d_inter", T.DoubleType(), False),
        T.StructField("complexity", T.DoubleType(), False),
        T.StructField("p", T.DoubleType(), False),
        T.StructField("quota_continuous", T.DoubleType(), True),
        T.StructField("lower_bound", T.LongType(), False),
        T.StructField("quota", T.LongType(), False),
        T.StructField("kept", T.LongType(), False),
        T.StructField("capped", T.BooleanType(), False),
        T.StructField("at_lower_bound", T.BooleanType(), False),
    ]
)


def count_reasons(decisions: DataFrame) -> dict[str, int]:
    """input, kept and removed per reason, from the written decisions table (they reconcile)."""
    rows = decisions.groupBy("reason").count().collect()
    by_reason = {r["reason"]: int(r["count"]) for r in rows}
    counts = {"input": sum(by_reason.values()), "kept": by_reason.pop(None, 0)}
    for reason in REASONS:
        counts[reason] = by_reason.pop(reason, 0)
    if by_reason:
        raise RuntimeError(f"unexpected reasons in decisions: {sorted(by_reason)}")
    return counts


def clusters_frame(spark: SparkSession, clusters: pd.DataFrame | None) -> DataFrame:
    """The ``clusters`` table (empty, with its schema, when DBP is disabled)."""
    if clusters is None:
        return spark.createDataFrame([], CLUSTER_SCHEMA)
    records = []
    for row in clusters.itertuples(index=False):  # k rows, on the driver
        records.append(
            (
                int(row.cluster_id),
                [float(v) for v in row.centroid],
                int(row.size),
                float(row.d_intra),
                float(row.d_inter),
                float(row.complexity),
                float(row.p),
                None if np.isnan(row.quota_continuous) else float(row.quota_continuous),
                int(row.lower_bound),
                int(row.quota),
                int(row.kept),
                bool(row.capped),
                bool(row.at_lower_bound),
            )
        )
    return spark.createDataFrame(records, CLUSTER_SCHEMA)


def versions() -> dict[str, str]:
    found = {"python": platform.python_version()}
    for name in PACKAGES:
        try:
            found[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            continue
    return found


def build(
    spark: SparkSession,
    cfg: PipelineConfig,
    out: OutputLocation,
    state: RunState,
    table_versions: dict[str, int],
) -> dict[str, Any]:
    return {
        "manifest_version": MANIFEST_VERSION,
        "run_id": state.run_id,
        "started": state.started,
        "finished": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "input": {
            "path": cfg.input.path,
            "format": cfg.input.format,
            "delta_version": state.info.get("input_version"),
            "id_column": cfg.input.id_column,
            "embedding_column": cfg.input.embedding_column,
            "embedding_dim": state.info.get("embedding_dim"),
        },
        "config": cfg.to_dict(),
        "seeds": {
            "dbp_kmeans": cfg.dbp.kmeans.seed,
            "dbp": cfg.dbp.seed,
            "semdedup_kmeans": cfg.semdedup.kmeans.seed,
            "semdedup": cfg.semdedup.seed,
        },
        "numerics": {
            "embeddings": "float32, L2-normalised on read",
            "similarity": "float64 matrix products rounded to float32 (batch-independent)",
            "distance": "float64, 1 - similarity",
            "d_intra_sum": "exact decimal(38,18) sum",
        },
        "kmeans": {
            "dbp": state.info.get("dbp_kmeans"),
            "dbp_empty_clusters": state.info.get("dbp_empty_clusters"),
        },
        "dbp": {"rows_in": state.info.get("dbp_rows_in"), "target": state.info.get("dbp_target")},
        "semdedup": state.info.get("semdedup"),
        "embed": state.info.get("embed"),
        "counts": state.counts,
        "timings_seconds": state.timings,
        "outputs": {
            name: {"location": out.table_ref(name), "delta_version": v}
            for name, v in table_versions.items()
        },
        "versions": versions(),
        "spark": {"version": spark.version, "master": spark.conf.get("spark.master", None)},
        "command": " ".join(sys.argv),
    }


def write(spark: SparkSession, path: str, doc: dict[str, Any]) -> None:
    write_text(spark, path, json.dumps(doc, indent=2, sort_keys=True, default=str) + "\n")


def read(spark: SparkSession, path: str) -> dict[str, Any]:
    return dict(json.loads(read_text(spark, path)))


def read_run_manifest(spark: SparkSession, run_path: str) -> dict[str, Any]:
    """The manifest of the run at ``run_path`` (``--run``); a location without one is a
    ``RunNotFoundError`` (nothing there) or an ``IncompleteRunError`` (tables, no manifest)."""
    root = run_path.rstrip("/")
    path = f"{root}/{MANIFEST_FILE}"
    try:
        text = read_text(spark, path)
    except Exception as exc:
        if not (isinstance(exc, OSError) or is_spark_error(exc)):
            raise
        raise _missing_run(spark, run_path) from None
    try:
        doc = json.loads(text)
    except json.JSONDecodeError as exc:
        raise RunNotFoundError(
            f"--run {run_path!r}: {path} is not a valid manifest ({exc})"
        ) from None
    if not isinstance(doc, dict) or "outputs" not in doc:
        raise RunNotFoundError(f"--run {run_path!r}: {path} is not a spark_prune manifest")
    return doc


def _missing_run(spark: SparkSession, run_path: str) -> RunNotFoundError:
    root = run_path.rstrip("/")
    if is_local_path(root):
        local = local_path(root)
        if not local.exists():
            return RunNotFoundError(
                f"--run {run_path!r} does not exist; give the output.path of a finished run"
            )
        if not local.is_dir():
            return RunNotFoundError(f"--run {run_path!r} is a file; give the run's directory")
    tables = [t for t in TABLES if delta_exists(spark, f"{root}/{t}")]
    if tables:
        return IncompleteRunError(
            f"--run {run_path!r} is an incomplete run: it has {', '.join(tables)} but no "
            f"{MANIFEST_FILE} (interrupted, or still running); rerun the same "
            f"'spark-prune run' to finish it"
        )
    return RunNotFoundError(f"--run {run_path!r} holds no run (no {MANIFEST_FILE})")


def count_column(decisions: DataFrame, column: str) -> int:
    return int(decisions.filter(F.col(column)).count())
