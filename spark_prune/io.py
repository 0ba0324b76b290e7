"""Reading the pinned input and writing the run's Delta tables and manifest."""

from __future__ import annotations

import logging
import os
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

from pyspark.sql import DataFrame, SparkSession

from spark_prune.config import InputConfig, OutputConfig, PipelineConfig
from spark_prune.contract import MANIFEST_FILE, TABLES
from spark_prune.errors import InputError, UserError, first_line, is_spark_error, spark_condition
from spark_prune.errors import OutputExistsError as OutputExistsError  # re-exported
from spark_prune.lake import DeltaLocation, is_local_path, is_table_name, local_path, text_exists

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class InputRead:
    """The input rows, the Delta version read (None: not Delta) and the shard count (None:
    not a sharded format)."""

    frame: DataFrame
    version: int | None
    shards: int | None = None


def open_input(spark: SparkSession, cfg: InputConfig) -> InputRead:
    """The input as configured: Delta (pinned), Parquet, a table, or DataComp/clip-retrieval
    shards (read on the executors by ``spark_prune.formats``; no Delta version)."""
    if cfg.format in ("datacomp", "clip-retrieval"):
        from spark_prune.formats import read_sharded

        sharded = read_sharded(spark, cfg)
        return InputRead(sharded.frame, None, sharded.shards)
    return InputRead(*read_input(spark, cfg))


def read_input(spark: SparkSession, cfg: InputConfig) -> tuple[DataFrame, int | None]:
    """The input DataFrame and the Delta version read (pinned, so reruns see the same rows).

    A missing path or table, a directory that is not a Delta table and an ``input.version``
    beyond the table's latest are ``InputError`` naming the key, raised here before any work.
    """
    if cfg.format in ("datacomp", "clip-retrieval"):
        read = open_input(spark, cfg)
        return read.frame, read.version
    with input_errors(cfg):
        if cfg.format == "parquet":
            return spark.read.parquet(cfg.path), None
        if cfg.format != "table":
            _require_delta_directory(cfg.path)
        table = DeltaLocation(cfg.path)
        latest = _latest_version(spark, cfg, table)
        if latest is None:  # a catalog table without Delta history: read it unpinned
            log.warning("input table %s has no Delta history; reading it unpinned", cfg.path)
            return spark.read.table(cfg.path), None
        if cfg.version is not None and cfg.version > latest:
            raise InputError(
                f"input.version {cfg.version}: {cfg.path!r} has versions 0 to {latest}; set "
                f"input.version to {latest} or lower, or leave it out to read the latest"
            )
        version = latest if cfg.version is None else cfg.version
        return table.read(spark, version), version


def _latest_version(spark: SparkSession, cfg: InputConfig, table: DeltaLocation) -> int | None:
    if cfg.format == "table" and not spark.catalog.tableExists(cfg.path):
        raise InputError(f"input.path {cfg.path!r}: no such table in the catalog")
    try:
        return table.latest_version(spark)
    except Exception as exc:
        if cfg.format == "table" and is_spark_error(exc):
            return None
        raise


def _require_delta_directory(path: str) -> None:
    """A local input directory must exist and hold a ``_delta_log`` (checked without Spark)."""
    if not is_local_path(path):
        return
    local = local_path(path)
    if not local.exists():
        raise InputError(f"input.path {path!r} does not exist; check input.path")
    if not local.is_dir():
        raise InputError(f"input.path {path!r} is a file, not a Delta table directory")
    if not (local / "_delta_log").is_dir():
        raise InputError(_not_delta_message(path, local))


def _not_delta_message(path: str, local: Path | None = None) -> str:
    hint = "point input.path at a Delta table"
    if local is not None and any(local.rglob("*.parquet")):
        hint = "it holds Parquet files: set input.format=parquet to read it as Parquet"
    return f"input.path {path!r} is not a Delta table (no _delta_log); {hint}"


NOT_DELTA_CONDITIONS = ("DELTA_TABLE_NOT_FOUND", "DELTA_TABLE_ONLY_OPERATION",
                        "DELTA_MISSING_DELTA_TABLE")  # fmt: skip


@contextmanager
def input_errors(cfg: InputConfig) -> Iterator[None]:
    """Spark's errors while opening the input, as one-line ``InputError``s naming the key."""
    try:
        yield
    except UserError:
        raise
    except Exception as exc:
        if not is_spark_error(exc):
            raise
        raise InputError(_input_message(cfg, exc)) from exc


def _input_message(cfg: InputConfig, exc: BaseException) -> str:
    condition = spark_condition(exc)
    text = first_line(exc)
    if condition == "PATH_NOT_FOUND":
        return f"input.path {cfg.path!r} does not exist; check input.path"
    if condition in NOT_DELTA_CONDITIONS or "is not a Delta table" in text:
        return _not_delta_message(cfg.path)
    if condition.startswith("TABLE_OR_VIEW_NOT_FOUND"):
        return f"input.path {cfg.path!r}: no such table in the catalog"
    if "Cannot time travel" in text:
        return f"input.version {cfg.version}: {text}"
    return f"input.path {cfg.path!r} ({cfg.format}) cannot be read: {text}"


def absolute_local_path(path: str) -> str:
    """A relative path without a scheme, made absolute against the current directory.

    Delta resolves ``delta.`path``` (history, versions) only for absolute paths, so a relative
    ``output.path`` would otherwise write fine and then fail; URIs and table names pass through.
    """
    if path and not urlparse(path).scheme and not os.path.isabs(path):
        return os.path.abspath(path)
    return path


def with_absolute_paths(cfg: PipelineConfig) -> PipelineConfig:
    """``cfg`` with every relative local path (input, output, manifest, embeddings cache)
    made absolute; catalog table names are left alone."""
    input_cfg = cfg.input
    if input_cfg.format != "table":
        input_cfg = replace(input_cfg, path=absolute_local_path(input_cfg.path))
    output = replace(
        cfg.output,
        path=absolute_local_path(cfg.output.path),
        manifest_path=cfg.output.manifest_path and absolute_local_path(cfg.output.manifest_path),
    )
    embed = cfg.embed
    if embed.cache_path and not is_table_name(embed.cache_path):
        embed = replace(embed, cache_path=absolute_local_path(embed.cache_path))
    return replace(cfg, input=input_cfg, output=output, embed=embed)


@dataclass(frozen=True)
class OutputLocation:
    """Where the run's tables live: ``<path>/<table>`` or ``<catalog_schema>.<table>``."""

    cfg: OutputConfig

    def table_ref(self, name: str) -> str:
        if self.cfg.catalog_schema:
            return f"{self.cfg.catalog_schema}.{name}"
        return f"{self.cfg.path.rstrip('/')}/{name}"

    def table(self, name: str) -> DeltaLocation:
        return DeltaLocation(self.table_ref(name))

    @property
    def manifest_path(self) -> str:
        if self.cfg.manifest_path:
            return self.cfg.manifest_path
        return f"{self.cfg.path.rstrip('/')}/{MANIFEST_FILE}"

    def existing_tables(self, spark: SparkSession) -> list[str]:
        return [name for name in TABLES if self.table(name).exists(spark)]

    def check_writable(self, spark: SparkSession) -> None:
        """Fail before any work if a published run is there and mode is 'error'.

        Tables without a manifest are an incomplete run (killed before it published): a
        rerun replaces them whatever the mode, resuming from its checkpoints.
        """
        existing = self.existing_tables(spark)
        if not existing or self.cfg.mode != "error":
            return
        where = self.cfg.catalog_schema or self.cfg.path
        if not text_exists(spark, self.manifest_path):
            log.info("output %s holds an incomplete run (no manifest): finishing it", where)
            return
        raise OutputExistsError(
            f"output {where!r} already has a run (tables {', '.join(existing)}); "
            f"set output.mode=overwrite or choose another output.path"
        )

    def write(self, df: DataFrame, name: str, user_metadata: dict[str, Any]) -> int:
        """Write one table (overwrite, schema replaced) and return its new Delta version."""
        return self.table(name).write(df, user_metadata)

    def read(self, spark: SparkSession, name: str) -> DataFrame:
        return self.table(name).read(spark)
