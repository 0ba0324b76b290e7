"""The Fashion-MNIST fixture: the real Debian files, their IDX parsing and the PCA embedding."""

from __future__ import annotations

import gzip
from pathlib import Path

import numpy as np
import pytest

from spark_prune.demo.fashion_mnist import (
    embed_pixels,
    ensure_fashion_mnist,
    load_split,
    main,
    pca_basis,
    read_idx,
)
from tests.embed_fixtures import data_cache


def test_real_files_parse() -> None:
    directory = ensure_fashion_mnist(data_cache())
    pixels, labels = load_split(directory, "test")
    assert pixels.shape == (10_000, 784) and labels.shape == (10_000,)
    assert np.bincount(labels).tolist() == [1000] * 10  # 10 balanced classes


def test_read_idx_rejects_other_files(tmp_path: Path) -> None:
    path = tmp_path / "bad.gz"
    path.write_bytes(gzip.compress(b"\x00\x00\x0d\x01\x00\x00\x00\x01abcd"))
    with pytest.raises(ValueError, match="not an unsigned-byte IDX file"):
        read_idx(path)


@pytest.mark.parametrize("rows", ["0", "60001"])
def test_rows_out_of_range_is_a_usage_error(rows: str, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as stopped:
        main(["--rows", rows, "--out", "unused"])  # refused before any Spark session starts
    assert stopped.value.code == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err[-1].endswith(f"--rows {rows}: the training split has 1 to 60000 rows")


def test_pca_is_an_orthonormal_basis_with_fixed_signs() -> None:
    rng = np.random.default_rng(0)
    pixels = rng.integers(0, 256, (300, 784)).astype(np.uint8)
    mean, basis = pca_basis(pixels, components=16, fit_rows=200)
    np.testing.assert_allclose(basis @ basis.T, np.eye(16), atol=1e-9)
    assert (basis[np.arange(16), np.abs(basis).argmax(axis=1)] > 0).all()
    emb = embed_pixels(pixels[:200], mean, basis)
    # the first component carries the most variance of the rows it was fitted on
    assert emb.dtype == np.float32 and np.argmax(emb.var(axis=0)) == 0
