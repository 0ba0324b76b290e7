"""Small tables built on the driver (one row per cluster) handed to Spark as one Arrow table.

``createDataFrame`` of Python row tuples turns every centroid element into a Python float and
embeds the rows in the query plan: for SemDeDup's k of tens of thousands that is tens of
millions of objects and a task binary of hundreds of MB. An Arrow table goes to Spark in
column buffers, on classic sessions and through Spark Connect alike.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
import pyarrow as pa
from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import types as T
from pyspark.sql.pandas.types import to_arrow_type


def driver_frame(
    spark: SparkSession, columns: Mapping[str, Any], schema: T.StructType
) -> DataFrame:
    """A DataFrame of ``schema`` from ``columns``: one 1-d array (or a ``pa.Array``, to carry
    nulls) per field, and a 2-d float matrix for an ``array<float>`` field."""
    missing = [name for name in schema.fieldNames() if name not in columns]
    if missing:
        raise ValueError(f"no values for column(s) {missing} of the table to build")
    arrays = [_arrow_column(columns[field.name], field) for field in schema.fields]
    lengths = {len(array) for array in arrays}
    if len(lengths) > 1:
        raise ValueError(f"columns of different lengths {sorted(lengths)} for one table")
    table = pa.Table.from_arrays(arrays, names=schema.fieldNames())
    return spark.createDataFrame(table, schema)


def _arrow_column(values: Any, field: T.StructField) -> pa.Array:
    arrow_type = to_arrow_type(field.dataType)
    if isinstance(values, pa.Array):
        return values.cast(arrow_type)
    if isinstance(field.dataType, T.ArrayType):
        matrix = np.asarray(values)
        if matrix.size == 0 and matrix.shape[0] == 0:  # no rows (a width of 0 is no matrix)
            return pa.array([], arrow_type)
        if matrix.ndim != 2:
            raise ValueError(f"column {field.name!r} needs a 2-d matrix, got {matrix.ndim}-d")
        element = arrow_type.value_type
        flat = pa.array(np.ascontiguousarray(matrix).ravel(), element)
        fixed = pa.FixedSizeListArray.from_arrays(flat, matrix.shape[1])
        return fixed.cast(arrow_type)
    return pa.array(np.asarray(values), arrow_type)
