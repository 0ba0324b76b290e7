"""Arrow <-> numpy embedding columns (core/vectors.py): round trips, slices, chunks, errors."""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pytest

from spark_prune.core.vectors import (
    arrow_list_to_matrix,
    binary_to_matrix,
    l2_normalize,
    matrix_to_arrow_list,
    matrix_to_binary,
)


def test_list_round_trip_with_slices_and_chunks() -> None:
    x = np.arange(24, dtype=np.float32).reshape(6, 4)
    column = matrix_to_arrow_list(x)
    assert column.type == pa.list_(pa.float32())
    np.testing.assert_array_equal(arrow_list_to_matrix(column, 4), x)
    np.testing.assert_array_equal(arrow_list_to_matrix(column.slice(2, 3), 4), x[2:5])
    chunked = pa.chunked_array([column.slice(0, 2), column.slice(2)])
    np.testing.assert_array_equal(arrow_list_to_matrix(chunked, 4), x)
    assert arrow_list_to_matrix(pa.chunked_array([], pa.list_(pa.float32())), 4).shape == (0, 4)
    doubles = pa.array([[1.0, 2.0]], pa.list_(pa.float64()))
    assert arrow_list_to_matrix(doubles, 2).dtype == np.float32


@pytest.mark.parametrize("large", [False, True])
def test_binary_round_trip(large: bool) -> None:
    x = np.random.default_rng(0).standard_normal((5, 3)).astype(np.float32)
    column = matrix_to_binary(x, large)
    assert column.type == (pa.large_binary() if large else pa.binary())
    np.testing.assert_array_equal(binary_to_matrix(column, 3), x)
    np.testing.assert_array_equal(binary_to_matrix(column.slice(1, 3), 3), x[1:4])
    chunked = pa.chunked_array([column.slice(0, 1), column.slice(1)])
    np.testing.assert_array_equal(binary_to_matrix(chunked, 3), x)
    assert binary_to_matrix(pa.chunked_array([], column.type), 3).shape == (0, 3)
    with pytest.raises(ValueError, match="not 4 float32 values"):
        binary_to_matrix(column, 4)


def test_l2_normalize() -> None:
    x = np.array([[3.0, 4.0], [0.0, 2.0]])
    np.testing.assert_allclose(l2_normalize(x), [[0.6, 0.8], [0.0, 1.0]], rtol=1e-7)
    assert l2_normalize(x).dtype == np.float32
