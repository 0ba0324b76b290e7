"""Checks that cost no heavy work, run before any stage computes.

* ``check_locations``: the output (and manifest) location can be written: not a file, under a
  directory (not a file), writable, and not the input's own location.
* ``check_rows``: the input has rows, the DBP target fits the valid rows, and an explicit
  SemDeDup k leaves something to compare (k >= rows would put every row alone in its cluster
  and silently remove nothing).

Each failure is a one-line ``UserError`` naming the key and what to do.
"""

from __future__ import annotations

import os
from pathlib import Path

from pyspark.sql import SparkSession

from spark_prune.config import PipelineConfig
from spark_prune.errors import InfeasibleTargetError, InputError, OutputError
from spark_prune.io import absolute_local_path
from spark_prune.lake import (
    connect_needs_local,
    hadoop_file,
    is_connect,
    is_local_path,
    is_table_name,
    local_path,
)


def check_locations(spark: SparkSession, cfg: PipelineConfig) -> None:
    """Fail before reading anything if the output or manifest location cannot be used."""
    out = cfg.output
    if is_connect(spark):
        for key, path in (("output.path", out.path), ("output.manifest_path", out.manifest_path)):
            if path and not is_local_path(path):
                raise OutputError(connect_needs_local(path, key))
    if out.path and not out.catalog_schema:
        check_directory(spark, "output.path", out.path)
        _check_apart(cfg.input.path, cfg.input.format, out.path)
    if out.manifest_path:
        check_file(spark, "output.manifest_path", out.manifest_path)


def check_directory(spark: SparkSession, key: str, path: str) -> None:
    """``path`` is a directory or can be created as one, and is writable."""
    if not is_local_path(path):
        if _remote_is_file(spark, path):
            raise OutputError(f"{key} {path!r} is a file, not a directory; choose a directory")
        return
    local = local_path(path)
    if local.exists() and not local.is_dir():
        raise OutputError(f"{key} {path!r} is a file, not a directory; choose a directory")
    _check_creatable(key, path, local)


def check_file(spark: SparkSession, key: str, path: str) -> None:
    """``path`` can be written as a file: not a directory, its parent creatable and writable."""
    if not is_local_path(path):
        return
    local = local_path(path)
    if local.is_dir():
        raise OutputError(f"{key} {path!r} is a directory; give a file path")
    _check_creatable(key, path, local.parent)


def _check_creatable(key: str, path: str, local: Path) -> None:
    existing = local
    while not existing.exists() and existing != existing.parent:
        existing = existing.parent
    if not existing.is_dir():
        raise OutputError(
            f"{key} {path!r} cannot be created: {str(existing)!r} is a file; choose another path"
        )
    if not os.access(existing, os.W_OK | os.X_OK):
        raise OutputError(
            f"{key} {path!r} is not writable (no write permission on {str(existing)!r}); "
            f"choose another path or fix the permissions"
        )


def _remote_is_file(spark: SparkSession, path: str) -> bool:
    """Best effort through Hadoop's FileSystem (classic sessions only)."""
    try:
        fs, hadoop_path = hadoop_file(spark, path)
        return bool(fs.exists(hadoop_path) and fs.getFileStatus(hadoop_path).isFile())
    except Exception:
        return False


def _check_apart(input_path: str, input_format: str, output_path: str) -> None:
    """An overwrite must never replace the input: the two locations may not nest."""
    if input_format == "table" and is_table_name(input_path):
        return
    a = absolute_local_path(input_path).rstrip("/")
    b = absolute_local_path(output_path).rstrip("/")
    if a == b or a.startswith(b + "/") or b.startswith(a + "/"):
        raise OutputError(
            f"output.path {output_path!r} overlaps input.path {input_path!r}; write the run "
            f"somewhere outside the input table"
        )


def check_rows(cfg: PipelineConfig, rows: int, valid: int, version: int | None) -> None:
    """The input is not empty, and the targets fit the ``valid`` rows (an upper bound of what
    enters SemDeDup and DBP)."""
    if rows == 0:
        at = f" at version {version}" if version is not None else ""
        raise InputError(
            f"input.path {cfg.input.path!r}{at} has no rows; nothing to prune (check "
            f"input.path and input.version)"
        )
    if valid == 0:
        return  # every row is recorded invalid; no stage runs
    keep = cfg.dbp.keep_count
    if cfg.dbp.enabled and keep is not None and keep > valid:
        raise InfeasibleTargetError(
            f"dbp.keep_count {keep} exceeds the {valid} valid input rows; lower "
            f"dbp.keep_count or use dbp.keep_fraction"
        )
    k = cfg.semdedup.kmeans.k
    if cfg.semdedup.enabled and isinstance(k, int) and 0 < valid - 1 < k:
        raise InfeasibleTargetError(
            f"semdedup.kmeans.k {k} is not below the {valid} valid rows: every row would be "
            f"alone in its cluster and SemDeDup would remove nothing; set semdedup.kmeans.k "
            f"below {valid}, or auto for rows / semdedup.rows_per_cluster"
        )
