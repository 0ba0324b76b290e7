"""Input checks: schema errors fail fast; bad rows become ``invalid`` decisions with a detail."""

from __future__ import annotations

from pyspark.sql import Column, DataFrame
from pyspark.sql import functions as F
from pyspark.sql import types as T

INVALID_DETAIL = "_invalid_detail"
NUMERIC_ELEMENTS = (
    T.FloatType,
    T.DoubleType,
    T.DecimalType,
    T.IntegerType,
    T.LongType,
    T.ShortType,
    T.ByteType,
)


class InputError(ValueError):
    """The input table cannot be pruned as configured (missing column, wrong type, duplicates)."""


def check_columns(df: DataFrame, id_col: str, emb_col: str) -> None:
    """Fail before any work when a column is missing or the embedding is not an array."""
    names = df.columns
    for role, column in (("id", id_col), ("embedding", emb_col)):
        if column not in names:
            raise InputError(
                f"{role} column {column!r} not found in the input; columns are: {', '.join(names)}"
            )
    emb_type = df.schema[emb_col].dataType
    if not isinstance(emb_type, T.ArrayType) or not isinstance(
        emb_type.elementType, NUMERIC_ELEMENTS
    ):
        raise InputError(
            f"embedding column {emb_col!r} must be array<float> (or another numeric array), "
            f"got {emb_type.simpleString()}"
        )
    id_type = df.schema[id_col].dataType
    if isinstance(id_type, (T.ArrayType, T.MapType, T.StructType, T.BinaryType)):
        raise InputError(f"id column {id_col!r} must be a scalar, got {id_type.simpleString()}")


def check_unique_ids(df: DataFrame, id_col: str, show: int = 5) -> None:
    """Fail naming some duplicated ids (and a null id counts as bad too)."""
    nulls = df.filter(F.col(id_col).isNull()).limit(1).count()
    if nulls:
        raise InputError(f"id column {id_col!r} contains null ids; every row needs an id")
    dupes = (
        df.groupBy(id_col).count().filter(F.col("count") > 1).orderBy(id_col).limit(show).collect()
    )
    if dupes:
        listed = ", ".join(f"{row[id_col]!r} (x{row['count']})" for row in dupes)
        raise InputError(f"id column {id_col!r} has duplicate ids, e.g. {listed}")


def infer_dimension(df: DataFrame, emb_col: str) -> int:
    """The most common embedding length among non-null rows (ties: the smaller length)."""
    counts = (
        df.filter(F.col(emb_col).isNotNull())
        .groupBy(F.size(emb_col).alias("dim"))
        .count()
        .orderBy(F.desc("count"), "dim")
        .limit(1)
        .collect()
    )
    if not counts or counts[0]["dim"] <= 0:
        raise InputError(f"embedding column {emb_col!r} has no non-empty embeddings")
    return int(counts[0]["dim"])


def invalid_detail(emb_col: str, dim: int) -> Column:
    """Why a row's embedding is unusable, or null when it is fine.

    Built from native array functions only (lambdas are evaluated row by row without code
    generation). array_max/array_min skip null elements and order NaN above +inf, so two
    passes find NaN, infinities and all-zero vectors; array_compact finds null elements.
    """
    emb = F.col(emb_col)
    largest, smallest = F.array_max(emb), F.array_min(emb)
    has_null_element = F.size(F.array_compact(emb)) != F.size(emb)
    has_nan_or_inf = F.isnan(largest) | (largest == float("inf")) | (smallest == float("-inf"))
    all_zero = (largest == 0) & (smallest == 0)
    return (
        F.when(emb.isNull(), F.lit("embedding is null"))
        .when(
            F.size(emb) != dim,
            F.format_string(f"embedding has %d values, expected {dim}", F.size(emb)),
        )
        .when(has_null_element, F.lit("embedding contains null values"))
        .when(has_nan_or_inf, F.lit("embedding contains NaN or infinite values"))
        .when(all_zero, F.lit("embedding has zero norm"))
        .otherwise(F.lit(None).cast("string"))
    )


def with_invalid_detail(df: DataFrame, emb_col: str, dim: int) -> DataFrame:
    return df.withColumn(INVALID_DETAIL, invalid_detail(emb_col, dim))
