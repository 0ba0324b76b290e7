"""Reading the pinned input and writing the run's Delta tables and manifest."""

from __future__ import annotations

import json
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
from spark_prune.errors import (
    InputError,
    OutputError,
    UserError,
    first_line,
    is_spark_error,
    spark_condition,
)
from spark_prune.errors import OutputExistsError as OutputExistsError  # re-exported

log = logging.getLogger(__name__)

TABLES = ("pruned", "decisions", "clusters")


def delta_version(spark: SparkSession, source: str, is_table: bool) -> int:
    """The latest commit version of a Delta table (path or catalog name)."""
    ref = source if is_table else f"delta.`{source}`"
    row = spark.sql(f"DESCRIBE HISTORY {ref} LIMIT 1").collect()[0]
    return int(row["version"])


def read_input(spark: SparkSession, cfg: InputConfig) -> tuple[DataFrame, int | None]:
    """The input DataFrame and the Delta version read (pinned, so reruns see the same rows).

    A missing path or table, a directory that is not a Delta table and an ``input.version``
    beyond the table's latest are ``InputError`` naming the key, raised here before any work.
    """
    with input_errors(cfg):
        if cfg.format == "parquet":
            return spark.read.parquet(cfg.path), None
        is_table = cfg.format == "table"
        if not is_table:
            _require_delta_directory(cfg.path)
        latest = _latest_version(spark, cfg, is_table)
        if latest is None:  # a catalog table without Delta history: read it unpinned
            log.warning("input table %s has no Delta history; reading it unpinned", cfg.path)
            return spark.read.table(cfg.path), None
        if cfg.version is not None and cfg.version > latest:
            raise InputError(
                f"input.version {cfg.version}: {cfg.path!r} has versions 0 to {latest}; set "
                f"input.version to {latest} or lower, or leave it out to read the latest"
            )
        version = latest if cfg.version is None else cfg.version
        if is_table:
            return spark.sql(f"SELECT * FROM {cfg.path} VERSION AS OF {version}"), version
        return spark.read.format("delta").option("versionAsOf", version).load(cfg.path), version


def _latest_version(spark: SparkSession, cfg: InputConfig, is_table: bool) -> int | None:
    if is_table and not spark.catalog.tableExists(cfg.path):
        raise InputError(f"input.path {cfg.path!r}: no such table in the catalog")
    try:
        return delta_version(spark, cfg.path, is_table)
    except Exception as exc:
        if is_table and is_spark_error(exc):
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


NOT_DELTA_CONDITIONS = ("DELTA_TABLE_NOT_FOUND", "DELTA_TABLE_ONLY_OPERATION",
                        "DELTA_MISSING_DELTA_TABLE")  # fmt: skip


@contextmanager
def concurrent_write_errors(what: str) -> Iterator[None]:
    """Delta's conflict errors (another writer committed first: ``ConcurrentAppendException``
    and its kin) as one ``OutputError`` line naming ``what``."""
    try:
        yield
    except Exception as exc:
        name = type(exc).__name__
        if "Concurrent" not in name and "CONCURRENT" not in spark_condition(exc):
            raise
        raise OutputError(
            f"{what} was changed by another job while this one wrote it ({name}); rerun when "
            f"it is done (runs into one output.path are serialised by its lease)"
        ) from exc


def local_path(path: str) -> Path:
    """A local path or ``file:`` URI as a Path."""
    return Path(urlparse(path).path if path.startswith("file:") else path)


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
            elif delta_exists(spark, self.table_ref(name)):
                found.append(name)
        return found

    def check_writable(self, spark: SparkSession) -> None:
        """Fail before any work if a published run is there and mode is 'error'.

        Tables without a manifest are an incomplete run (killed before it published): a
        rerun replaces them whatever the mode, resuming from its checkpoints.
        """
        existing = self.existing_tables(spark)
        if not existing or self.cfg.mode != "error":
            return
        where = self.cfg.catalog_schema or self.cfg.path
        if not self.has_manifest(spark):
            log.info("output %s holds an incomplete run (no manifest): finishing it", where)
            return
        raise OutputExistsError(
            f"output {where!r} already has a run (tables {', '.join(existing)}); "
            f"set output.mode=overwrite or choose another output.path"
        )

    def has_manifest(self, spark: SparkSession) -> bool:
        path = self.manifest_path
        if is_local_path(path):
            return local_path(path).is_file()
        try:
            read_text(spark, path)
        except Exception:
            return False
        return True

    def write(self, df: DataFrame, name: str, user_metadata: dict[str, Any]) -> int:
        """Write one table (overwrite, schema replaced) and return its new Delta version."""
        writer = (
            df.write.format("delta")
            .mode("overwrite")
            .option("overwriteSchema", "true")
            .option("userMetadata", json.dumps(user_metadata, sort_keys=True))
        )
        with concurrent_write_errors(f"output table {self.table_ref(name)!r}"):
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


def delta_exists(spark: SparkSession, path: str) -> bool:
    if is_local_path(path):
        return (local_path(path) / "_delta_log").is_dir()
    try:
        from delta.tables import DeltaTable

        return bool(DeltaTable.isDeltaTable(spark, path))
    except Exception:
        return False


def write_text(spark: SparkSession, path: str, text: str) -> None:
    """Write a small text file locally or through Hadoop's FileSystem (s3a://, abfss://, dbfs:/)."""
    if is_local_path(path):
        local = local_path(path)
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


def remove_file(spark: SparkSession, path: str) -> bool:
    """Delete one file if it is there (locally or through Hadoop's FileSystem); True if it was."""
    if is_local_path(path):
        local = local_path(path)
        if local.is_file():
            local.unlink()
            return True
        return False
    jvm = spark.sparkContext._jvm
    assert jvm is not None
    hadoop_path = jvm.org.apache.hadoop.fs.Path(path)
    fs = hadoop_path.getFileSystem(spark.sparkContext._jsc.hadoopConfiguration())
    return bool(fs.exists(hadoop_path) and fs.delete(hadoop_path, False))


def read_text(spark: SparkSession, path: str) -> str:
    if is_local_path(path):
        return local_path(path).read_text()
    return "\n".join(r.value for r in spark.read.text(path).collect())
