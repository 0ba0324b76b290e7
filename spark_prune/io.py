"""Reading the pinned input and writing the run's Delta tables and manifest."""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass, replace
from typing import Any
from urllib.parse import urlparse

from pyspark.sql import DataFrame, SparkSession

from spark_prune.config import InputConfig, OutputConfig, PipelineConfig
from spark_prune.contract import MANIFEST_FILE, TABLES
from spark_prune.lake import DeltaLocation, is_table_name

log = logging.getLogger(__name__)


class OutputExistsError(FileExistsError):
    """The output location already holds a run and output.mode is 'error'."""


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
    """The input DataFrame and the Delta version read (pinned, so reruns see the same rows)."""
    if cfg.format in ("datacomp", "clip-retrieval"):
        read = open_input(spark, cfg)
        return read.frame, read.version
    if cfg.format == "parquet":
        return spark.read.parquet(cfg.path), None
    table = DeltaLocation(cfg.path)
    try:
        version = cfg.version if cfg.version is not None else table.latest_version(spark)
    except Exception as exc:  # not a Delta table (e.g. a plain catalog table): read unpinned
        if cfg.format != "table":
            raise FileNotFoundError(
                f"input.path {cfg.path!r} is not a readable Delta table: {str(exc).splitlines()[0]}"
            ) from exc
        log.warning("input table %s has no Delta history; reading it unpinned", cfg.path)
        return spark.read.table(cfg.path), None
    return table.read(spark, version), version


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
        """Fail before any work if a previous run is there and mode is 'error'."""
        existing = self.existing_tables(spark)
        if existing and self.cfg.mode == "error":
            where = self.cfg.catalog_schema or self.cfg.path
            raise OutputExistsError(
                f"output {where!r} already has tables {', '.join(existing)}; "
                f"set output.mode=overwrite or choose another output.path"
            )

    def write(self, df: DataFrame, name: str, user_metadata: dict[str, Any]) -> int:
        """Write one table (overwrite, schema replaced) and return its new Delta version."""
        return self.table(name).write(df, user_metadata)

    def read(self, spark: SparkSession, name: str) -> DataFrame:
        return self.table(name).read(spark)
