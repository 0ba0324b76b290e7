"""Reading the pinned input and writing the run's Delta tables and manifest."""

from __future__ import annotations

import json
import logging
import os
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

from pyspark.sql import DataFrame, SparkSession

from spark_prune.config import InputConfig, OutputConfig, PipelineConfig

log = logging.getLogger(__name__)

TABLES = ("pruned", "decisions", "clusters")


class OutputExistsError(FileExistsError):
    """The output location already holds a run and output.mode is 'error'."""


def delta_version(spark: SparkSession, source: str, is_table: bool) -> int:
    """The latest commit version of a Delta table (path or catalog name)."""
    ref = source if is_table else f"delta.`{source}`"
    row = spark.sql(f"DESCRIBE HISTORY {ref} LIMIT 1").collect()[0]
    return int(row["version"])


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
    is_table = cfg.format == "table"
    try:
        version = (
            cfg.version if cfg.version is not None else delta_version(spark, cfg.path, is_table)
        )
    except Exception as exc:  # not a Delta table (e.g. a plain catalog table): read unpinned
        if not is_table:
            raise FileNotFoundError(
                f"input.path {cfg.path!r} is not a readable Delta table: {str(exc).splitlines()[0]}"
            ) from exc
        log.warning("input table %s has no Delta history; reading it unpinned", cfg.path)
        return spark.read.table(cfg.path), None
    if is_table:
        return spark.sql(f"SELECT * FROM {cfg.path} VERSION AS OF {version}"), version
    return spark.read.format("delta").option("versionAsOf", version).load(cfg.path), version


def is_table_name(ref: str) -> bool:
    """A catalog table name (``schema.table``), not a path or URI: neither "/" nor ":"."""
    return "/" not in ref and ":" not in ref


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


def is_local_path(path: str) -> bool:
    scheme = urlparse(path).scheme
    return scheme in ("", "file") or (len(scheme) == 1 and os.name == "nt")


@dataclass(frozen=True)
class OutputLocation:
    """Where the run's tables live: ``<path>/<table>`` or ``<catalog_schema>.<table>``."""

    cfg: OutputConfig

    def table_ref(self, name: str) -> str:
        if self.cfg.catalog_schema:
            return f"{self.cfg.catalog_schema}.{name}"
        return f"{self.cfg.path.rstrip('/')}/{name}"

    def sql_ref(self, name: str) -> str:
        ref = self.table_ref(name)
        return ref if self.cfg.catalog_schema else f"delta.`{ref}`"

    @property
    def manifest_path(self) -> str:
        if self.cfg.manifest_path:
            return self.cfg.manifest_path
        return f"{self.cfg.path.rstrip('/')}/manifest.json"

    def existing_tables(self, spark: SparkSession) -> list[str]:
        found = []
        for name in TABLES:
            if self.cfg.catalog_schema:
                if spark.catalog.tableExists(self.table_ref(name)):
                    found.append(name)
            elif _delta_exists(spark, self.table_ref(name)):
                found.append(name)
        return found

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
        writer = (
            df.write.format("delta")
            .mode("overwrite")
            .option("overwriteSchema", "true")
            .option("userMetadata", json.dumps(user_metadata, sort_keys=True))
        )
        if self.cfg.catalog_schema:
            writer.saveAsTable(self.table_ref(name))
        else:
            writer.save(self.table_ref(name))
        return delta_version(
            spark=df.sparkSession,
            source=self.table_ref(name),
            is_table=bool(self.cfg.catalog_schema),
        )

    def read(self, spark: SparkSession, name: str) -> DataFrame:
        if self.cfg.catalog_schema:
            return spark.read.table(self.table_ref(name))
        return spark.read.format("delta").load(self.table_ref(name))


def _delta_exists(spark: SparkSession, path: str) -> bool:
    if is_local_path(path):
        return (
            Path(urlparse(path).path if path.startswith("file:") else path) / "_delta_log"
        ).is_dir()
    try:
        from delta.tables import DeltaTable

        return bool(DeltaTable.isDeltaTable(spark, path))
    except Exception:
        return False


def write_text(spark: SparkSession, path: str, text: str) -> None:
    """Write a small text file locally or through Hadoop's FileSystem (s3a://, abfss://, dbfs:/)."""
    if is_local_path(path):
        local = Path(urlparse(path).path if path.startswith("file:") else path)
        local.parent.mkdir(parents=True, exist_ok=True)
        tmp = local.with_suffix(local.suffix + ".tmp")
        tmp.write_text(text)
        tmp.replace(local)
        return
    jvm = spark.sparkContext._jvm  # not available on Spark Connect: use a local or Volume path
    assert jvm is not None
    hadoop_path = jvm.org.apache.hadoop.fs.Path(path)
    fs = hadoop_path.getFileSystem(spark.sparkContext._jsc.hadoopConfiguration())
    stream = fs.create(hadoop_path, True)
    try:
        stream.write(bytearray(text.encode("utf-8")))
    finally:
        stream.close()


def read_text(spark: SparkSession, path: str) -> str:
    if is_local_path(path):
        return Path(urlparse(path).path if path.startswith("file:") else path).read_text()
    return "\n".join(r.value for r in spark.read.text(path).collect())
