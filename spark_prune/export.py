"""Hand a run's kept rows to the community's tools.

``datacomp-subset``: DataComp's subset file, the input of its ``resharder`` and training
scripts: a ``.npy`` array of dtype ``numpy.dtype("u8,u8")`` (fields ``f0``, ``f1``, native
little-endian uint64), one element per kept uid (the 32-hex uid split into its first and last 16
hex digits), unique and in lexicographic ascending order. By nature it is one local file on the
driver (16 bytes per kept row); it is filled in uid-prefix groups of at most ``batch_rows`` rows
straight into a memory-mapped file, so the driver never holds more than one group, and no
global sort runs on the cluster.

``ids``: a Parquet directory of the kept ids (with ``url`` and ``caption``/``text`` when the
input has them), written by Spark, for img2dataset-style downloaders.
"""

from __future__ import annotations

import os
from decimal import Decimal
from pathlib import Path

import numpy as np
from pyspark import StorageLevel
from pyspark.sql import Column, DataFrame, SparkSession
from pyspark.sql import functions as F
from pyspark.sql import types as T

from spark_prune.contract import DECISIONS, KEPT, PRUNED
from spark_prune.errors import (
    EXIT_FAILURE,
    EXIT_USAGE,
    OutputError,
    UserError,
    first_line,
    is_spark_error,
)
from spark_prune.lake import check_local_target, is_local_path, is_table_name, local_path
from spark_prune.runs import OpenRun, open_run

UID_DTYPE = np.dtype("u8,u8")  # exactly DataComp's subset dtype (compared by the resharder)
UID_PATTERN = "^[0-9a-f]{32}$"
TEXT_COLUMNS = ("url", "caption", "text")
BATCH_ROWS = 10_000_000  # 160 MB of uids per group on the driver
FORMATS = ("datacomp-subset", "ids")


class ExportError(UserError, ValueError):
    """The command line asks for an export that cannot be made (format, ``--out``)."""

    exit_code = EXIT_USAGE


class ExportDataError(ExportError):
    """The run's data does not fit the format (ids that are not DataComp uids, ...)."""

    exit_code = EXIT_FAILURE


class ExportTargetExistsError(ExportError, FileExistsError):
    """``--out`` exists and ``--overwrite`` was not given (like ``output.mode: error``)."""

    exit_code = EXIT_FAILURE


def kept_ids(decisions: DataFrame, id_col: str) -> DataFrame:
    return decisions.filter(F.col(KEPT)).select(id_col)


class ExportTargetOverlapError(ExportError):
    """``--out`` is, holds or lies inside the run's own tables (writing would destroy them)."""

    exit_code = EXIT_FAILURE


def check_export_target(fmt: str, out: str, overwrite: bool) -> None:
    """Everything about ``--format`` / ``--out`` that needs no Spark: checked before a session
    starts, so a mistake costs no start-up."""
    if fmt not in FORMATS:
        raise ExportError(f"--format {fmt!r}: must be one of {', '.join(FORMATS)}")
    check_local_target(out, "--out", "file" if fmt == "datacomp-subset" else "directory")
    if fmt == "datacomp-subset":
        _subset_target(out, overwrite)
    elif is_local_path(out) and local_path(out).exists() and not overwrite:
        raise _exists(out)


def _exists(out: str) -> ExportTargetExistsError:
    return ExportTargetExistsError(f"--out {out!r} exists; pass --overwrite to replace it")


def export_run(spark: SparkSession, run: str, fmt: str, out: str, overwrite: bool = False) -> int:
    """Export run ``run`` (an output directory or its manifest file; opened at the table
    versions its manifest recorded) in format ``fmt`` to ``out``; the kept rows written."""
    check_export_target(fmt, out, overwrite)
    opened = open_run(spark, run)  # a missing or incomplete run: RunNotFoundError (exit 1)
    _check_apart(opened, out)
    id_col = opened.id_column
    kept = kept_ids(opened.table(DECISIONS), id_col)
    if fmt == "datacomp-subset":
        return write_datacomp_subset(kept, id_col, out, overwrite)
    return write_ids(kept, opened.table(PRUNED), id_col, out, overwrite)


def _u64_as_long(hex16: Column) -> Column:
    """16 hex digits as the int64 with the same bits as their uint64 value (JVM, no UDF)."""
    value = F.conv(hex16, 16, 10).cast(T.DecimalType(20, 0))
    wrap = F.lit(Decimal(2**64)).cast(T.DecimalType(21, 0))
    return F.when(value >= F.lit(Decimal(2**63)), value - wrap).otherwise(value).cast(T.LongType())


def uid_pairs(kept: DataFrame, id_col: str) -> DataFrame:
    """``prefix`` (first two hex digits, null for a malformed uid), ``u0`` and ``u1``."""
    uid = F.lower(F.col(id_col).cast(T.StringType()))
    valid = uid.rlike(UID_PATTERN)
    return kept.select(
        F.col(id_col),
        F.when(valid, F.conv(F.substring(uid, 1, 2), 16, 10).cast(T.IntegerType())).alias("prefix"),
        F.when(valid, _u64_as_long(F.substring(uid, 1, 16))).alias("u0"),
        F.when(valid, _u64_as_long(F.substring(uid, 17, 16))).alias("u1"),
    )


def prefix_groups(counts: dict[int, int], batch_rows: int) -> list[tuple[int, int, int]]:
    """Consecutive prefix ranges ``(first, last, rows)`` of at most ``batch_rows`` rows each
    (a single prefix over the limit is a group of its own)."""
    groups: list[tuple[int, int, int]] = []
    first, rows = 0, 0
    for prefix in range(256):
        n = counts.get(prefix, 0)
        if rows and rows + n > batch_rows:
            groups.append((first, prefix - 1, rows))
            first, rows = prefix, 0
        rows += n
    groups.append((first, 255, rows))
    return [g for g in groups if g[2]]


def write_datacomp_subset(
    kept: DataFrame, id_col: str, out: str, overwrite: bool = False, batch_rows: int = BATCH_ROWS
) -> int:
    """Write the kept uids as DataComp's subset ``.npy`` file (see the module docstring)."""
    target = _local_file(out, overwrite)
    pairs = uid_pairs(kept, id_col).persist(StorageLevel.MEMORY_AND_DISK)
    try:
        counts = {r["prefix"]: int(r["count"]) for r in pairs.groupBy("prefix").count().collect()}
        bad = counts.pop(None, 0)
        if bad:
            example = pairs.filter(F.col("prefix").isNull()).select(id_col).first() or [None]
            raise ExportDataError(
                f"{bad} kept ids in column {id_col!r} are not 32-hex DataComp uids "
                f"(e.g. {example[0]!r}); datacomp-subset needs a DataComp input"
            )
        total = sum(counts.values())
        tmp = target.with_name(target.name + ".tmp.npy")
        array = np.lib.format.open_memmap(tmp, mode="w+", dtype=UID_DTYPE, shape=(total,))
        offset = 0
        for first, last, rows in prefix_groups(counts, batch_rows):
            block = _sorted_block(pairs, first, last)
            if len(block) != rows:
                raise ExportDataError(f"the run's decisions changed while exporting ({rows} rows)")
            array[offset : offset + rows] = block
            offset += rows
        array.flush()
        del array
        os.replace(tmp, target)
        return total
    finally:
        pairs.unpersist()


def _sorted_block(pairs: DataFrame, first: int, last: int) -> np.ndarray:
    table = pairs.filter(F.col("prefix").between(first, last)).select("u0", "u1").toArrow()
    block = np.empty(table.num_rows, dtype=UID_DTYPE)
    block["f0"] = table.column("u0").to_numpy().view(np.uint64)
    block["f1"] = table.column("u1").to_numpy().view(np.uint64)
    block.sort()
    if len(block) > 1 and bool(np.any(block[1:] == block[:-1])):
        raise ExportDataError("kept ids repeat a uid (ids differing only in case?)")
    return block


def _check_apart(opened: OpenRun, out: str) -> None:
    """``--out`` must not be the run's directory or one of its tables, hold one, or lie inside
    one: ``--overwrite`` would delete them."""
    run_dir = opened.location
    if run_dir.endswith(".json"):  # a manifest file: its folder
        run_dir = run_dir.rsplit("/", 1)[0]
    places = [run_dir, *(str(info.get("location")) for info in opened.outputs.values())]
    target = _normalised(out)
    for place in places:
        if is_table_name(place):
            continue
        there = _normalised(place)
        if target == there or there.startswith(f"{target}/") or target.startswith(f"{there}/"):
            what = "the run's directory" if place == places[0] else f"its table {place!r}"
            raise ExportTargetOverlapError(
                f"--out {out!r} would overwrite {what} ({there}); export somewhere else"
            )


def _normalised(path: str) -> str:
    if is_local_path(path):
        return str(local_path(path).absolute()).rstrip("/")
    return path.rstrip("/")


def _subset_target(out: str, overwrite: bool) -> Path:
    """The local ``.npy`` file the DataComp subset goes to (checked, not created)."""
    if not is_local_path(out):
        raise ExportError(
            f"--out {out!r}: the DataComp subset is one local file; write it locally "
            f"(or to a mounted path such as /Volumes/... or /dbfs/...) and copy it"
        )
    target = local_path(out).absolute()
    if target.suffix != ".npy":
        raise ExportError(f"--out {out!r}: the DataComp subset file must end in .npy")
    if target.exists() and not overwrite:
        raise _exists(out)
    return target


def _local_file(out: str, overwrite: bool) -> Path:
    target = _subset_target(out, overwrite)
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        reason = exc.strerror or exc
        raise OutputError(
            f"--out {out!r}: cannot create {str(target.parent)!r} ({reason})"
        ) from None
    return target


def write_ids(
    kept: DataFrame, pruned: DataFrame, id_col: str, out: str, overwrite: bool = False
) -> int:
    """Kept ids (+ url, caption/text from the run's ``pruned`` table) as Parquet at ``out``."""
    extra = [c for c in TEXT_COLUMNS if c in pruned.columns]
    rows = kept
    if extra:
        rows = kept.join(pruned.select(id_col, *extra), id_col, "left")
    writer = rows.write.mode("overwrite" if overwrite else "errorifexists")
    try:
        writer.parquet(out)
    except Exception as exc:
        if "PATH_ALREADY_EXISTS" in str(exc) or "already exists" in str(exc):
            raise _exists(out) from exc
        if is_spark_error(exc):
            raise OutputError(f"--out {out!r} cannot be written: {first_line(exc)}") from exc
        raise
    return int(rows.sparkSession.read.parquet(out).count())
