"""Shard column types mapped to ones Spark reads from Arrow (the reader casts every shard)."""

from __future__ import annotations

from collections.abc import Iterator

import pyarrow as pa
import pytest
from pyspark.sql.pandas.types import from_arrow_schema

from spark_prune.formats.arrow_types import (
    NULL_FALLBACK,
    NULL_LOOKAHEAD,
    spark_readable,
    with_null_columns_typed,
)
from spark_prune.formats.errors import ShardError


def test_types_are_mapped_to_the_nearest_spark_reads() -> None:
    schema = pa.schema(
        [
            ("category", pa.dictionary(pa.int8(), pa.string())),
            ("u8", pa.uint8()),
            ("u16", pa.uint16()),
            ("u32", pa.uint32()),
            ("u64", pa.uint64()),
            ("half", pa.float16()),
            ("boxes", pa.list_(pa.list_(pa.float64()))),
            ("pixels", pa.list_(pa.uint8(), 3)),
            ("size", pa.struct([("w", pa.uint16()), ("h", pa.uint16())])),
            ("tags", pa.map_(pa.string(), pa.uint32())),
            ("uid", pa.string()),
        ]
    )
    readable = spark_readable(schema, "a.parquet")
    assert readable.types == [
        pa.string(),
        pa.int16(),
        pa.int32(),
        pa.int64(),
        pa.decimal128(20, 0),
        pa.float32(),
        pa.list_(pa.list_(pa.float64())),
        pa.list_(pa.int16()),
        pa.struct([("w", pa.int32()), ("h", pa.int32())]),
        pa.map_(pa.string(), pa.int64()),
        pa.string(),
    ]
    assert from_arrow_schema(readable).simpleString().startswith("struct<category:string,u8:")


def test_a_type_spark_cannot_read_is_named() -> None:
    schema = pa.schema([("uid", pa.string()), ("taken_at", pa.time64("us"))])
    with pytest.raises(ShardError, match=r"^input column 'taken_at' of a.parquet has .*time64"):
        spark_readable(schema, "a.parquet")


def test_null_columns_take_the_type_of_a_later_shard_read_only_while_needed() -> None:
    first = pa.schema([("uid", pa.string()), ("error", pa.null()), ("note", pa.null())])
    read: list[int] = []

    def later() -> Iterator[pa.Schema]:
        shapes = [
            pa.schema([("uid", pa.string()), ("error", pa.null()), ("note", pa.null())]),
            pa.schema([("uid", pa.string()), ("error", pa.int32()), ("note", pa.null())]),
            pa.schema([("uid", pa.string()), ("error", pa.int64()), ("note", pa.large_string())]),
            pa.schema([("uid", pa.string()), ("error", pa.string()), ("note", pa.string())]),
        ]
        for index, shape in enumerate(shapes):
            read.append(index)
            yield shape

    typed = with_null_columns_typed(first, later())
    assert typed.types == [pa.string(), pa.int32(), pa.large_string()]
    assert read == [0, 1, 2]  # the fourth shard's footer was not read

    def never() -> Iterator[pa.Schema]:
        for _ in range(NULL_LOOKAHEAD + 5):
            read.append(-1)
            yield first

    read.clear()
    typed = with_null_columns_typed(first, never())
    assert typed.types == [pa.string(), NULL_FALLBACK, NULL_FALLBACK]
    assert len(read) == NULL_LOOKAHEAD
    untouched = pa.schema([("uid", pa.string())])
    assert with_null_columns_typed(untouched, never()) == untouched
    assert len(read) == NULL_LOOKAHEAD  # nothing untyped: no footer read
