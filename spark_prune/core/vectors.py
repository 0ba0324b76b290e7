"""Moving embedding columns between Arrow and numpy without per-row Python loops."""

from __future__ import annotations

import numpy as np
import pyarrow as pa


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


def matrix_to_binary(x: np.ndarray, large: bool = False) -> pa.Array:
    """Rows of a float32 matrix as an Arrow (large_)binary column of raw bytes, zero copy."""
    data = np.ascontiguousarray(x, dtype=np.float32)
    n, width = data.shape[0], 4 * data.shape[1]
    offsets = np.arange(0, (n + 1) * width, width, dtype=np.int64 if large else np.int32)
    kind = pa.large_binary() if large else pa.binary()
    return pa.Array.from_buffers(kind, n, [None, pa.py_buffer(offsets), pa.py_buffer(data)])


def binary_to_matrix(column: pa.Array | pa.ChunkedArray, dim: int) -> np.ndarray:
    """The inverse of ``matrix_to_binary``: an (n, dim) float32 matrix (chunk by chunk, so a
    cluster over 2 GiB is fine)."""
    chunks = column.chunks if isinstance(column, pa.ChunkedArray) else [column]
    parts = [_binary_chunk(chunk, dim) for chunk in chunks if len(chunk)]
    return np.concatenate(parts) if parts else np.zeros((0, dim), dtype=np.float32)


def _binary_chunk(chunk: pa.Array, dim: int) -> np.ndarray:
    offset_type = np.int64 if pa.types.is_large_binary(chunk.type) else np.int32
    n = len(chunk)
    offsets = np.frombuffer(chunk.buffers()[1], dtype=offset_type)[
        chunk.offset : chunk.offset + n + 1
    ]
    if not np.all(np.diff(offsets) == 4 * dim):
        raise ValueError(f"semdedup: an embedding is not {dim} float32 values")
    data = np.frombuffer(chunk.buffers()[2], dtype=np.uint8)[offsets[0] : offsets[-1]]
    return data.view(np.float32).reshape(n, dim)
