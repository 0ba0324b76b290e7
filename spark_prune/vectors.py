"""Moving embedding columns between Arrow, numpy and Spark without per-row Python loops."""

from __future__ import annotations

import numpy as np
import pyarrow as pa
from pyspark.sql import Column
from pyspark.sql import functions as F


def arrow_list_to_matrix(column: pa.Array | pa.ChunkedArray, dim: int) -> np.ndarray:
    """A list<float> Arrow column with no nulls and every length ``dim`` as an (n, dim) float32."""
    if isinstance(column, pa.ChunkedArray):
        column = pa.concat_arrays(column.chunks) if column.num_chunks else pa.array([], column.type)
    n = len(column)
    if n == 0:
        return np.zeros((0, dim), dtype=np.float32)
    # flatten() honours slice offsets, unlike .values
    flat = column.flatten().to_numpy(zero_copy_only=False)
    return np.ascontiguousarray(flat.astype(np.float32, copy=False).reshape(n, dim))


def matrix_to_arrow_list(matrix: np.ndarray) -> pa.Array:
    """An (n, d) matrix as an Arrow list<float> column."""
    n, d = matrix.shape
    flat = pa.array(np.ascontiguousarray(matrix, dtype=np.float32).reshape(-1))
    offsets = pa.array(np.arange(0, (n + 1) * d, d, dtype=np.int32))
    return pa.ListArray.from_arrays(offsets, flat)


def l2_normalize(matrix: np.ndarray) -> np.ndarray:
    """Rows divided by their L2 norm (callers have already rejected zero-norm rows)."""
    norms = np.linalg.norm(matrix, axis=1, keepdims=True)
    return (matrix / norms).astype(np.float32, copy=False)


def hash_key(id_column: str, seed: int) -> Column:
    """A seeded 64-bit hash of the row id: a partition-independent random order."""
    return F.xxhash64(F.lit(seed), F.col(id_column).cast("string"))
