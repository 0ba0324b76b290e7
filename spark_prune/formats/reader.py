"""Sharded inputs as a Spark DataFrame, read on the executors, one task per shard.

The driver only lists the shards (one small row each); ``spark.range(n, numPartitions=n)`` gives
one task per shard index. A first pass collects one ``(shard, parquet_rows, array_rows, dim)``
row per shard (footers and headers only) and fails with one line naming a misaligned shard (or
one lacking a column) before any embedding is read; the row pass then streams each shard with
``mapInArrow``.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass

import pyarrow as pa
from pyspark.sql import DataFrame, SparkSession
from pyspark.sql.pandas.types import from_arrow_schema

from spark_prune.errors import first_line, worker_exception
from spark_prune.formats.arrow_types import spark_readable, with_null_columns_typed
from spark_prune.formats.errors import ShardError
from spark_prune.formats.shards import (
    Shard,
    mismatch_message,
    parquet_schema,
    read_shard_rows,
    shard_counts,
)

COUNT_SCHEMA = "shard int, parquet_rows long, array_rows long, dim int"
COUNT_TYPES = (pa.int32(), pa.int64(), pa.int64(), pa.int32())


@dataclass(frozen=True)
class ShardedInput:
    """The rows of a sharded input and what the manifest records about it."""

    frame: DataFrame
    shards: int
    rows: int
    dim: int


def read_shards(
    spark: SparkSession, shards: Sequence[Shard], column: str, where: str, layout: str = ""
) -> ShardedInput:
    """All rows of ``shards`` with the array as ``column`` (``array<float>``); ``layout``
    describes the files the format expects, for the error when there are none."""
    if not shards:
        expected = f"; the format expects {layout}" if layout else ""
        raise ShardError(f"input.path: no shards found in {where!r}{expected}")
    shards = list(shards)
    schema = output_schema(shards, column)
    counts = _check_counts(spark, shards, [n for n in schema.names if n != column])
    dims = {dim for _, _, _, dim in counts}
    if len(dims) != 1:
        first = {dim: index for index, _, _, dim in reversed(counts)}  # each width's first shard
        widths = ", ".join(f"{d} (e.g. {shards[first[d]].array})" for d in sorted(first))
        raise ShardError(
            f"input.path: shards of {where!r} hold arrays of different widths: {widths}; "
            f"every shard needs the same width"
        )

    def rows(batches: Iterable[pa.RecordBatch]) -> Iterator[pa.RecordBatch]:
        for batch in batches:
            for index in batch.column("id").to_pylist():
                yield from _named_failures(shards[index], schema, column)

    frame = _shard_indices(spark, len(shards)).mapInArrow(rows, from_arrow_schema(schema))
    total = sum(parquet_rows for _, parquet_rows, _, _ in counts)
    return ShardedInput(frame, len(shards), total, dims.pop())


def _named_failures(shard: Shard, schema: pa.Schema, column: str) -> Iterator[pa.RecordBatch]:
    """The shard's rows; a file that fails mid-read is a ``ShardError`` naming it."""
    with shard_named(shard):
        yield from read_shard_rows(shard, schema, column)


@contextmanager
def shard_named(shard: Shard) -> Iterator[None]:
    """A shard file that cannot be read (truncated, corrupt, a column that does not cast to
    the first shard's type): a ``ShardError`` naming the shard and its files."""
    try:
        yield
    except ShardError:
        raise
    except Exception as exc:
        raise ShardError(
            f"shard {shard.name} ({shard.parquet}, {shard.array}) cannot be read: "
            f"{type(exc).__name__}: {first_line(exc)}"
        ) from exc


def output_schema(shards: Sequence[Shard], column: str) -> pa.Schema:
    """The first shard's Parquet columns in types Spark reads (all shards are cast to them;
    ``formats.arrow_types``) and ``column`` last."""
    first, later = shards[0], _schemas(shards[1:])
    with shard_named(first):
        meta = with_null_columns_typed(parquet_schema(first), later)
    if column in meta.names:
        raise ShardError(
            f"input.embedding_column: {column!r} is already a column of {first.parquet}"
        )
    meta = spark_readable(meta, first.parquet)
    return meta.append(pa.field(column, pa.list_(pa.float32())))


def _schemas(shards: Sequence[Shard]) -> Iterator[pa.Schema]:
    for shard in shards:
        with shard_named(shard):
            schema = parquet_schema(shard)
        yield schema


def _shard_indices(spark: SparkSession, n: int) -> DataFrame:
    return spark.range(0, n, 1, numPartitions=n)


def _check_counts(
    spark: SparkSession, shards: list[Shard], columns: list[str]
) -> list[tuple[int, int, int, int]]:
    """One row per shard (k-row sized), checked on the driver: a clear one-line error."""

    def count(batches: Iterable[pa.RecordBatch]) -> Iterator[pa.RecordBatch]:
        for batch in batches:
            indices = batch.column("id").to_pylist()
            out = []
            for i in indices:
                with shard_named(shards[i]):
                    out.append((i, *shard_counts(shards[i], columns)))
            fields = list(zip(*out, strict=True)) if out else [()] * 4
            yield pa.RecordBatch.from_arrays(
                [pa.array(f, t) for f, t in zip(fields, COUNT_TYPES, strict=True)],
                names=["shard", "parquet_rows", "array_rows", "dim"],
            )

    try:
        rows = _shard_indices(spark, len(shards)).mapInArrow(count, COUNT_SCHEMA).collect()
    except Exception as exc:  # a ShardError raised in a task arrives wrapped: keep its line
        raise ShardError(_task_error_line(exc)) from exc
    counts = sorted((r["shard"], r["parquet_rows"], r["array_rows"], r["dim"]) for r in rows)
    bad = [mismatch_message(shards[i], p, a) for i, p, a, _ in counts if p != a]
    if bad:
        more = f" (and {len(bad) - 1} more misaligned shards)" if len(bad) > 1 else ""
        raise ShardError(bad[0] + more)
    return counts


def _task_error_line(exc: Exception) -> str:
    """The message of the error a task raised (a ``ShardError``'s alone), else the first
    ``SomeError: message`` line, else the first non-empty line."""
    raised = worker_exception(exc)
    if raised is not None:
        name, message = raised
        return message if name.endswith("ShardError") else f"{name.rsplit('.', 1)[-1]}: {message}"
    lines = [line.strip() for line in str(exc).splitlines() if line.strip()]
    for line in lines:
        found = re.match(r"^([\w.]*(?:Error|Exception|Invalid)): (.+)$", line)
        if found:
            return f"{found.group(1).rsplit('.', 1)[-1]}: {found.group(2)}"
    return lines[0] if lines else type(exc).__name__
