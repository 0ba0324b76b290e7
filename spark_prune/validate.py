"""Input checks: schema errors fail fast; bad rows become ``invalid`` decisions with a detail."""

from __future__ import annotations

from dataclasses import dataclass

from pyspark.sql import Column, DataFrame
from pyspark.sql import functions as F
from pyspark.sql import types as T

from spark_prune.errors import InputError as InputError  # re-exported: the historic home

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


def check_columns(df: DataFrame, id_col: str, emb_col: str) -> None:
    """Fail before any work when a column is missing or the embedding is not an array."""
    names = df.columns
    for role, column in (("id", id_col), ("embedding", emb_col)):
        if column not in names:
            raise InputError(
                f"{role} column {column!r} not found in the input (input.{role}_column); "
                f"columns are: {', '.join(names)}"
            )
    emb_type = df.schema[emb_col].dataType
    if not is_vector(emb_type) and (
        not isinstance(emb_type, T.ArrayType)
        or not isinstance(emb_type.elementType, NUMERIC_ELEMENTS)
    ):
        raise InputError(
            f"embedding column {emb_col!r} must be array<float> (or another numeric array, or a "
            f"Spark ML vector), got {emb_type.simpleString()}; set input.embedding_column to the "
            f"embedding column (or embed.enabled=true to compute embeddings)"
        )
    id_type = df.schema[id_col].dataType
    if isinstance(id_type, (T.ArrayType, T.MapType, T.StructType, T.BinaryType)):
        raise InputError(f"id column {id_col!r} must be a scalar, got {id_type.simpleString()}")


def is_vector(dtype: T.DataType) -> bool:
    """A Spark ML ``VectorUDT`` column (dense or sparse)."""
    from pyspark.ml.linalg import VectorUDT

    return isinstance(dtype, VectorUDT)


def as_array_embeddings(df: DataFrame, emb_col: str) -> DataFrame:
    """``df`` with a Spark ML vector embedding column turned into ``array<float>``
    (``vector_to_array``); any other column is left as it is."""
    if emb_col not in df.columns or not is_vector(df.schema[emb_col].dataType):
        return df
    from pyspark.ml.functions import vector_to_array

    return df.withColumn(emb_col, vector_to_array(F.col(emb_col), "float32"))


def check_unique_ids(df: DataFrame, id_col: str, show: int = 5) -> None:
    """Fail naming some duplicated ids (and a null id counts as bad too): one aggregation."""
    ident = F.col(id_col)
    times = f"{id_col}_times"  # never the id column's own name (an id column may be "count")
    bad = (
        df.groupBy(ident)
        .agg(F.count(F.lit(1)).alias(times))
        .filter(ident.isNull() | (F.col(times) > 1))
        .orderBy(ident.asc_nulls_first())
        .limit(show)
        .collect()
    )
    if bad and bad[0][id_col] is None:
        raise InputError(
            f"id column {id_col!r} contains null ids; every row needs a unique id "
            f"(fill them in, filter them out, or set input.id_column)"
        )
    if bad:
        listed = ", ".join(f"{row[id_col]!r} (x{row[times]})" for row in bad)
        raise InputError(
            f"id column {id_col!r} has duplicate ids, e.g. {listed}; ids must be unique "
            f"(deduplicate the input or set input.id_column)"
        )


def infer_dimension(df: DataFrame, emb_col: str) -> int | None:
    """The most common embedding length among non-null, non-empty rows (ties: the smaller
    length); None when there is none (every row will be ``invalid``)."""
    return embedding_census(df, emb_col).dimension()


@dataclass(frozen=True)
class EmbeddingCensus:
    """Rows per embedding length (-1: a null embedding), and among them the rows unusable at
    that length for another reason (null elements, NaN or infinite values, all zeros, or an
    embed error): what ``invalid_detail`` finds, counted in one pass."""

    rows: dict[int, int]
    unusable: dict[int, int]

    @property
    def total(self) -> int:
        return sum(self.rows.values())

    def dimension(self) -> int | None:
        """The most common length among non-null, non-empty rows (ties: the smaller length);
        None when there is none (every row will be ``invalid``)."""
        lengths = [(-n, d) for d, n in self.rows.items() if d > 0]
        return min(lengths)[1] if lengths else None

    def valid(self, dim: int | None) -> int:
        """Rows ``invalid_detail(..., dim)`` leaves valid."""
        return 0 if dim is None else self.rows.get(dim, 0) - self.unusable.get(dim, 0)


def check_configured_dim(dim: int | None, census: EmbeddingCensus) -> None:
    """``input.embedding_dim`` that no row has, while rows have another length, is a config
    mistake (a shard key or model of another width), not a table of invalid rows."""
    found = census.dimension()
    if dim is None or found is None or census.rows.get(dim, 0) > 0:
        return
    raise InputError(
        f"input.embedding_dim {dim}: no row has {dim} values, most have {found}; set "
        f"input.embedding_dim={found}, or leave it unset to take the most common length"
    )


def embedding_census(df: DataFrame, emb_col: str, error_col: str | None = None) -> EmbeddingCensus:
    """One aggregation over the embedding column (a row per distinct length to the driver)."""
    emb = F.col(emb_col)
    length = F.when(emb.isNull(), F.lit(-1)).otherwise(F.size(emb))
    flags = [_has_null_element(emb, element_type(df, emb_col)), _has_nan_or_inf(emb),
             _all_zero(emb)]  # fmt: skip
    if error_col is not None:
        flags.append(F.col(error_col).isNotNull())
    unusable = F.lit(False)
    for flag in flags:
        unusable = unusable | F.coalesce(flag, F.lit(False))
    found = (
        df.groupBy(length.alias("length"))
        .agg(F.count(F.lit(1)).alias("rows"), F.sum(unusable.cast("long")).alias("unusable"))
        .collect()
    )
    return EmbeddingCensus(
        rows={int(r["length"]): int(r["rows"]) for r in found},
        unusable={int(r["length"]): int(r["unusable"] or 0) for r in found},
    )


def element_type(df: DataFrame, emb_col: str) -> T.DataType | None:
    """The element type of an array embedding column (None for anything else)."""
    dtype = df.schema[emb_col].dataType
    return dtype.elementType if isinstance(dtype, T.ArrayType) else None


def _has_null_element(emb: Column, elements: T.DataType | None) -> Column:
    """Whether some element is null. For float arrays without copying the array:
    ``array_contains(emb, NaN)`` is null exactly when no element is NaN and one is null (SQL's
    three-valued logic; Spark's NaN equals NaN); the rare rows holding a NaN, invalid anyway,
    are compacted to tell. Other element types compact every array."""
    compacted = F.size(F.array_compact(emb)) != F.size(emb)
    if not isinstance(elements, (T.FloatType, T.DoubleType)):
        return compacted
    has_nan = F.array_contains(emb, F.lit(float("nan")).cast(elements))
    return (
        F.when(emb.isNull(), F.lit(None).cast("boolean"))
        .when(has_nan.isNull(), F.lit(True))
        .when(has_nan, compacted)
        .otherwise(F.lit(False))
    )


def _has_nan_or_inf(emb: Column) -> Column:
    largest, smallest = F.array_max(emb), F.array_min(emb)
    return F.isnan(largest) | (largest == float("inf")) | (smallest == float("-inf"))


def _all_zero(emb: Column) -> Column:
    return (F.array_max(emb) == 0) & (F.array_min(emb) == 0)


def invalid_detail(emb_col: str, dim: int | None, elements: T.DataType | None) -> Column:
    """Why a row's embedding is unusable, or null when it is fine.

    Built from native array functions only (lambdas are evaluated row by row without code
    generation). array_max/array_min skip null elements and order NaN above +inf, so two
    passes find NaN, infinities and all-zero vectors. ``elements``, the array's element type
    (:func:`element_type`), picks how null elements are found (:func:`_has_null_element`).
    """
    emb = F.col(emb_col)
    if dim is None:  # no usable embedding anywhere: every row is invalid, saying why
        return F.when(emb.isNull(), F.lit("embedding is null")).otherwise(
            F.lit("embedding is empty")
        )
    has_null_element, has_nan_or_inf, all_zero = (
        _has_null_element(emb, elements),
        _has_nan_or_inf(emb),
        _all_zero(emb),
    )
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


def with_invalid_detail(df: DataFrame, emb_col: str, dim: int | None) -> DataFrame:
    return df.withColumn(INVALID_DETAIL, invalid_detail(emb_col, dim, element_type(df, emb_col)))
