"""Synthetic embedding tables (demo/synthetic.py): seeded, unit rows around planted centres
with very different spreads, and the chunked Parquet writer equal to the in-memory rows."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pyarrow.parquet as pq

from spark_prune.demo.synthetic import (
    cluster_centres,
    clustered_embeddings,
    write_parquet_embeddings,
)


def test_same_seed_same_rows() -> None:
    ids, x = clustered_embeddings(300, 16, 5, seed=4)
    again_ids, again = clustered_embeddings(300, 16, 5, seed=4)
    np.testing.assert_array_equal(again, x)
    np.testing.assert_array_equal(again_ids, ids)
    assert not np.array_equal(clustered_embeddings(300, 16, 5, seed=5)[1], x)
    assert ids.tolist() == list(range(300)) and x.dtype == np.float32 and x.shape == (300, 16)
    np.testing.assert_allclose(np.linalg.norm(x, axis=1), 1.0, atol=1e-5)
    shifted, _ = clustered_embeddings(3, 16, 5, seed=4, first_id=10)
    assert shifted.tolist() == [10, 11, 12]


def test_rows_sit_around_the_planted_centres() -> None:
    centres, spreads = cluster_centres(6, 32, seed=8)
    np.testing.assert_allclose(np.linalg.norm(centres, axis=1), 1.0, atol=1e-5)
    assert spreads.min() >= 0.02 and spreads.max() <= 1.0
    assert spreads.max() / spreads.min() > 5  # very different densities (log-uniform)
    _, x = clustered_embeddings(2000, 32, 6, seed=8)
    nearest = (x @ centres.T).argmax(axis=1)
    assert len(np.unique(nearest)) == 6  # every centre has rows
    tight, loose = int(spreads.argmin()), int(spreads.argmax())
    similarity = (x @ centres.T).max(axis=1)
    # the tightest cluster's rows hug their centre, the loosest one's spread out
    assert similarity[nearest == tight].mean() > similarity[nearest == loose].mean() + 0.05
    assert similarity[nearest == tight].min() > 0.9


def test_parquet_chunks_equal_the_rows(tmp_path: Path) -> None:
    out = write_parquet_embeddings(tmp_path / "t", 250, 8, 3, seed=2, chunk_rows=100)
    files = sorted(p.name for p in out.iterdir())
    assert files == ["part-00000.parquet", "part-00001.parquet", "part-00002.parquet"]
    table = pq.read_table(out)
    assert table.column_names == ["id", "image_emb", "caption"]
    assert sorted(table.column("id").to_pylist()) == list(range(250))
    last = pq.read_table(out / "part-00002.parquet")
    ids, x = clustered_embeddings(50, 8, 3, seed=2, first_id=200, chunk_seed=2 + 2 + 1)
    assert last.column("id").to_pylist() == ids.tolist()
    np.testing.assert_array_equal(np.array(last.column("image_emb").to_pylist(), np.float32), x)
    assert last.column("caption")[0].as_py() == "synthetic row 200"
