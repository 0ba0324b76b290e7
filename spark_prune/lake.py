"""The one Delta layer: a table given by path (local, s3://, abfss://, dbfs:/) or catalog name.

Everything goes through delta-spark's ``DeltaTable`` API and DataFrame readers and writers (which
also work on Spark Connect with Delta's Connect plugin), so no SQL is built from user input.
Writes carry JSON commit ``userMetadata`` (the run id, the table's role) and, for appends that a
retried step could repeat, Delta's idempotent-write options ``txnAppId``/``txnVersion``.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Iterator, Mapping
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

from pyspark.sql import DataFrame, SparkSession

from spark_prune.errors import OutputError, spark_condition

COMMIT_FILE = re.compile(r"\d{20}\.json")


def is_table_name(ref: str) -> bool:
    """A catalog table name (``schema.table``), not a path or URI: neither "/" nor ":"."""
    return "/" not in ref and ":" not in ref


def is_local_path(path: str) -> bool:
    scheme = urlparse(path).scheme
    return scheme in ("", "file") or (len(scheme) == 1 and os.name == "nt")


def local_path(path: str) -> Path:
    """The filesystem path of a local path or ``file:`` URI."""
    return Path(urlparse(path).path if path.startswith("file:") else path)


def quote_identifier(name: str) -> str:
    """A (possibly dotted) catalog name with every part back-quoted, for the rare SQL we need."""
    return ".".join("`" + part.replace("`", "``") + "`" for part in name.split("."))


@dataclass(frozen=True)
class DeltaLocation:
    """A Delta table by path or catalog name (``ref``)."""

    ref: str

    @property
    def is_catalog(self) -> bool:
        return is_table_name(self.ref)

    @property
    def sql_ref(self) -> str:
        """The table in Delta SQL: a quoted catalog name or ``delta.`path```."""
        if self.is_catalog:
            return quote_identifier(self.ref)
        return "delta.`" + self.ref.replace("`", "``") + "`"

    def delta_table(self, spark: SparkSession) -> Any:
        from delta.tables import DeltaTable

        if self.is_catalog:
            return DeltaTable.forName(spark, self.ref)
        return DeltaTable.forPath(spark, self.ref)

    def exists(self, spark: SparkSession) -> bool:
        if self.is_catalog:
            return bool(spark.catalog.tableExists(self.ref))
        if is_local_path(self.ref):  # no JVM round trip for the common local case
            return (local_path(self.ref) / "_delta_log").is_dir() and self._has_commit(spark)
        return self._has_commit(spark)

    def _has_commit(self, spark: SparkSession) -> bool:
        from delta.tables import DeltaTable

        try:
            if is_connect(spark):
                return self.history(spark, 1).first() is not None
            return bool(DeltaTable.isDeltaTable(spark, self.ref))
        except Exception:  # unreachable store or no permission: not a table we can use
            return False

    def last_commit(self, spark: SparkSession) -> Mapping[str, Any]:
        """The latest commit's ``version`` and ``userMetadata`` (and, from ``history``, the
        rest of its history row)."""
        local = self._local_last_commit(spark)
        if local is not None:
            return local
        row = self.history(spark, 1).first()
        if row is None:
            raise FileNotFoundError(f"Delta table {self.ref!r} has no commits")
        return row.asDict()

    def _local_last_commit(self, spark: SparkSession) -> dict[str, Any] | None:
        """A local table's latest commit read from its ``_delta_log`` (the newest
        ``<version>.json`` and its ``commitInfo``): no Spark job for what every write asks.
        None where the log is not on this machine's disk (a remote store, Spark Connect)."""
        if self.is_catalog or not is_local_path(self.ref) or is_connect(spark):
            return None
        log_dir = local_path(self.ref) / "_delta_log"
        try:
            names = os.listdir(log_dir)
        except OSError:
            return None
        versions = [int(n[:20]) for n in names if COMMIT_FILE.fullmatch(n)]
        if not versions:
            return None
        version = max(versions)
        info: dict[str, Any] = {}
        with open(log_dir / f"{version:020d}.json", encoding="utf-8") as commit:
            for line in commit:
                action = json.loads(line) if line.strip() else {}
                if "commitInfo" in action:
                    info = action["commitInfo"]
                    break
        return {"version": version, "userMetadata": info.get("userMetadata")}

    def latest_version(self, spark: SparkSession) -> int:
        return int(self.last_commit(spark)["version"])

    def last_user_metadata(self, spark: SparkSession) -> dict[str, Any]:
        """The latest commit's ``userMetadata`` parsed as JSON ({} when absent or not JSON)."""
        return parse_user_metadata(self.last_commit(spark)["userMetadata"])

    def history(self, spark: SparkSession, limit: int | None = None) -> DataFrame:
        if is_connect(spark):  # same columns as DeltaTable.history()
            bound = f" LIMIT {int(limit)}" if limit else ""
            return spark.sql(f"DESCRIBE HISTORY {self.sql_ref}{bound}")
        table = self.delta_table(spark)
        return table.history(limit) if limit else table.history()

    def read(self, spark: SparkSession, version: int | None = None) -> DataFrame:
        reader = spark.read.format("delta")
        if version is not None:
            reader = reader.option("versionAsOf", int(version))
        if self.is_catalog:
            return reader.table(self.ref)
        return reader.load(self.ref)

    def write(
        self,
        df: DataFrame,
        user_metadata: dict[str, Any],
        mode: str = "overwrite",
        txn: tuple[str, int] | None = None,
    ) -> int:
        """Write ``df`` (overwrite replaces the schema too) and return the new Delta version.

        ``txn = (app_id, version)``: Delta skips the write if this app already committed that
        version, so a retried step never writes twice.
        """
        metadata = json.dumps(user_metadata, sort_keys=True, default=str)
        writer = df.write.format("delta").mode(mode).option("userMetadata", metadata)
        if mode == "overwrite":
            writer = writer.option("overwriteSchema", "true")
        if txn is not None:
            writer = writer.option("txnAppId", txn[0]).option("txnVersion", int(txn[1]))
        with concurrent_write_errors(self.ref):
            if self.is_catalog:
                writer.saveAsTable(self.ref)
            else:
                writer.save(self.ref)
        last = self.last_commit(df.sparkSession)
        if txn is None and last.get("userMetadata") != metadata:
            return self._commit_no_op_write(df.sparkSession, metadata)
        return int(last["version"])

    def _commit_no_op_write(self, spark: SparkSession, metadata: str) -> int:
        """Delta commits nothing when an empty frame overwrites an empty table, so the latest
        version is still an earlier writer's; a run needs a version of its own (its manifest
        names it and readers check the writer's run id there), so a table-property commit
        carries this write's metadata."""
        key = "spark.databricks.delta.commitInfo.userMetadata"
        before = spark.conf.get(key, None)
        written_by = str(parse_user_metadata(metadata).get("run_id", "")).replace("'", "")
        spark.conf.set(key, metadata)
        try:
            spark.sql(
                f"ALTER TABLE {self.sql_ref} SET TBLPROPERTIES "
                f"('spark_prune.written_by' = '{written_by}')"
            )
        finally:
            if before is None:
                spark.conf.unset(key)
            else:
                spark.conf.set(key, before)
        return self.latest_version(spark)

    def append(
        self, df: DataFrame, user_metadata: dict[str, Any], txn: tuple[str, int] | None = None
    ) -> int:
        return self.write(df, user_metadata, mode="append", txn=txn)


def is_connect(spark: SparkSession) -> bool:
    """A Spark Connect session. Its ``DeltaTable`` calls need Delta's Connect plugin on the
    server (``io.delta:delta-connect-server``), which Maven Central does not have for Delta
    4.0.x; Delta SQL (``DESCRIBE HISTORY``) works on any Delta-enabled server, so history and
    versions go through SQL there."""
    return type(spark).__module__.startswith("pyspark.sql.connect")


@contextmanager
def concurrent_write_errors(ref: str) -> Iterator[None]:
    """Delta's conflict errors (another writer committed first: ``ConcurrentAppendException``
    and its kin) as one ``OutputError`` line naming the table."""
    try:
        yield
    except Exception as exc:
        name = type(exc).__name__
        if "Concurrent" not in name and "CONCURRENT" not in spark_condition(exc):
            raise
        raise OutputError(
            f"Delta table {ref!r} was changed by another job while this one wrote it ({name}); "
            f"rerun when it is done (runs into one output.path are serialised by its lease)"
        ) from exc


def hadoop_file(spark: SparkSession, path: str) -> tuple[Any, Any]:
    """Hadoop's ``FileSystem`` for ``path`` and the path as a Hadoop ``Path`` (s3a://,
    abfss://, dbfs:/ ...). On Spark Connect this Python process has no JVM to reach them with:
    an ``OutputError`` says to use a local or mounted path."""
    if is_connect(spark):
        raise OutputError(connect_needs_local(path))
    jvm: Any = spark.sparkContext._jvm
    hadoop_path = jvm.org.apache.hadoop.fs.Path(path)
    return hadoop_path.getFileSystem(spark.sparkContext._jsc.hadoopConfiguration()), hadoop_path


def connect_needs_local(path: str, key: str = "") -> str:
    """Why a non-local ``path`` (named by config ``key``) cannot hold a Connect run's files."""
    named = f"{key} {path!r}" if key else repr(path)
    return (
        f"{named} is not a local path: on Spark Connect the run's own files (lease, manifest, "
        f"checkpoint cleanup, report) are written by this Python process, which cannot reach "
        f"that store; use a local or mounted path (on Databricks a /Volumes/... path) or a "
        f"classic Spark session"
    )


def remove_file(spark: SparkSession, path: str) -> bool:
    """Delete one file if it is there (locally or through Hadoop's FileSystem); True if it was."""
    if is_local_path(path):
        local = local_path(path)
        if local.is_file():
            local.unlink()
            return True
        return False
    fs, hadoop_path = hadoop_file(spark, path)
    return bool(fs.exists(hadoop_path) and fs.delete(hadoop_path, False))


def parse_user_metadata(text: str | None) -> dict[str, Any]:
    if not text:
        return {}
    try:
        value = json.loads(text)
    except ValueError:
        return {}
    return value if isinstance(value, dict) else {}


@contextmanager
def removed_if_left_empty(path: str) -> Iterator[None]:
    """The local directories of ``path`` that do not exist yet are removed again, deepest
    first, when they are still empty as the block ends: a run that fails before writing
    anything leaves no empty output directory behind. Other locations: nothing to do."""
    new: list[Path] = []
    if is_local_path(path):
        folder = local_path(path).absolute()
        while not folder.exists():
            new.append(folder)
            folder = folder.parent
    try:
        yield
    finally:
        for folder in new:
            try:
                folder.rmdir()  # fails on a directory that is not empty: kept
            except FileNotFoundError:
                continue
            except OSError:
                break


def check_local_target(path: str, option: str, kind: str = "file") -> None:
    """A local ``path`` that a ``kind`` ("file" or "directory") can be written to: no parent is
    a file, and a file target is not an existing directory. Raises ``OutputError`` naming
    ``option`` before any work is done; other locations are left to the writer."""
    if not is_local_path(path):
        return
    target = local_path(path).absolute()
    for parent in reversed(target.parents):
        if parent.exists() and not parent.is_dir():
            raise OutputError(f"{option} {path!r}: {str(parent)!r} is a file, not a directory")
    if kind == "file" and target.is_dir():
        raise OutputError(f"{option} {path!r} is a directory; give a file path")
    existing = next(p for p in (target, *target.parents) if p.exists())
    if not os.access(existing, os.W_OK):
        raise OutputError(f"{option} {path!r}: {str(existing)!r} is not writable")


def write_text(spark: SparkSession, path: str, text: str) -> None:
    """Write a small text file atomically: locally via a temp file and rename, elsewhere via
    Hadoop's FileSystem (s3a://, abfss://, dbfs:/; an object put is atomic per object)."""
    if is_local_path(path):
        _write_local_text(local_path(path), text)
        return
    fs, hadoop_path = hadoop_file(spark, path)
    stream = fs.create(hadoop_path, True)
    try:
        stream.write(bytearray(text.encode("utf-8")))
    finally:
        stream.close()


def _write_local_text(target: Path, text: str) -> None:
    tmp = target.with_suffix(target.suffix + ".tmp")
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        tmp.write_text(text)
        tmp.replace(target)
    except OSError as exc:
        with suppress(OSError):  # e.g. the parent is a file: no temp file either
            tmp.unlink(missing_ok=True)
        raise OutputError(f"cannot write {str(target)!r}: {exc.strerror or exc}") from exc


def read_text(spark: SparkSession, path: str) -> str:
    if is_local_path(path):
        return local_path(path).read_text()
    return "\n".join(r.value for r in spark.read.text(path).collect())


def text_exists(spark: SparkSession, path: str) -> bool:
    if is_local_path(path):
        return local_path(path).is_file()
    try:
        spark.read.text(path).limit(1).collect()
    except Exception:  # missing or unreadable: callers say which in their own words
        return False
    return True
