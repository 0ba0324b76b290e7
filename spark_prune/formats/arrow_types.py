"""Parquet column types of community shards that Spark's Arrow exchange cannot carry, mapped
to the nearest type it can: dictionary-encoded columns (a pandas ``category``) to their values,
unsigned integers to the next wider signed type (``uint64`` to ``decimal(20,0)``), ``float16``
to ``float32``, nested types element by element. A column that is all nulls in the first shard
(``null`` type, as pandas writes an all-``None`` column) takes its type from the next shards."""

from __future__ import annotations

from collections.abc import Iterable
from itertools import islice

import pyarrow as pa
from pyspark.sql.pandas.types import from_arrow_type

from spark_prune.formats.errors import ShardError

WIDER_SIGNED = {
    pa.uint8(): pa.int16(),
    pa.uint16(): pa.int32(),
    pa.uint32(): pa.int64(),
    pa.uint64(): pa.decimal128(20, 0),
}
NULL_LOOKAHEAD = 10  # later shards read for the type of a column that is null in the first
NULL_FALLBACK = pa.string()  # a column null in all of them


def spark_readable(schema: pa.Schema, where: str) -> pa.Schema:
    """``schema`` with every column's type one Spark reads from Arrow; a column that has no
    such type is a ``ShardError`` naming it, its type and ``where`` (the file)."""
    fields = []
    for field in schema:
        mapped = _readable_type(field.type)
        try:
            from_arrow_type(mapped)
        except Exception:
            raise ShardError(
                f"input column {field.name!r} of {where} has the Parquet/Arrow type "
                f"{field.type}, which Spark cannot read; drop or convert that column"
            ) from None
        fields.append(field.with_type(mapped))
    return pa.schema(fields)


def _readable_type(arrow_type: pa.DataType) -> pa.DataType:
    if pa.types.is_dictionary(arrow_type):
        return _readable_type(arrow_type.value_type)
    if arrow_type in WIDER_SIGNED:
        return WIDER_SIGNED[arrow_type]
    if pa.types.is_float16(arrow_type):
        return pa.float32()
    lists = (pa.types.is_list, pa.types.is_large_list, pa.types.is_fixed_size_list)
    if any(is_list(arrow_type) for is_list in lists):
        return pa.list_(_readable_field(arrow_type.value_field))
    if pa.types.is_struct(arrow_type):
        return pa.struct(
            [_readable_field(arrow_type.field(i)) for i in range(arrow_type.num_fields)]
        )
    if pa.types.is_map(arrow_type):
        return pa.map_(_readable_type(arrow_type.key_type), _readable_field(arrow_type.item_field))
    return arrow_type


def _readable_field(field: pa.Field) -> pa.Field:
    return field.with_type(_readable_type(field.type))


def with_null_columns_typed(schema: pa.Schema, later: Iterable[pa.Schema]) -> pa.Schema:
    """Columns of ``null`` type take the type the first of the next ``NULL_LOOKAHEAD`` shards
    gives them (``later``: their schemas, lazily: read only while a column is untyped), else
    ``NULL_FALLBACK``; every shard is then cast to a type that holds its values."""
    untyped = {f.name for f in schema if pa.types.is_null(f.type)}
    found: dict[str, pa.DataType] = {}
    for other in islice(later, NULL_LOOKAHEAD) if untyped else ():
        for name in untyped - set(found):
            index = other.get_field_index(name)
            if index >= 0 and not pa.types.is_null(other.field(index).type):
                found[name] = other.field(index).type
        if len(found) == len(untyped):
            break
    return pa.schema(
        [f.with_type(found.get(f.name, NULL_FALLBACK)) if f.name in untyped else f for f in schema]
    )
