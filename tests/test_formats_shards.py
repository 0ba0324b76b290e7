"""Row-aligned shard pairs read in a task (formats/shards.py): footers and headers only for the
counts, batches of rows equal to the files, one-line errors naming the shard."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from spark_prune.formats.errors import ShardError
from spark_prune.formats.shards import (
    Shard,
    embedding_array,
    list_files,
    read_shard_rows,
    shard_counts,
)
from tests.shard_fixtures import datacomp_dir


def _shard(root: Path, stem: str, member: str | None = "l14_img") -> Shard:
    return Shard(stem, f"{root}/{stem}.parquet", f"{root}/{stem}.npz", member)


def test_float16_widening_is_exact() -> None:
    x = np.array([[0.1, -2.5], [65504.0, 1e-4]], dtype=np.float16)
    arr = embedding_array(x.astype(np.float32))
    assert arr.type == pa.list_(pa.float32())
    np.testing.assert_array_equal(np.array(arr.to_pylist(), np.float32), x.astype(np.float32))


def test_counts_and_batches_equal_the_files(tmp_path: Path) -> None:
    layout = datacomp_dir(tmp_path / "dc", shard_rows=(7, 5))
    shard = _shard(layout.path, "00000001")  # saved compressed (np.savez_compressed)
    assert shard_counts(shard, ["uid", "text"]) == (5, 5, 12)
    meta = pq.read_table(shard.parquet).select(["uid", "text"])
    schema = meta.schema.append(pa.field("emb", pa.list_(pa.float32())))
    batches = list(read_shard_rows(shard, schema, "emb", batch_rows=2))
    assert [b.num_rows for b in batches] == [2, 2, 1]
    table = pa.Table.from_batches(batches)
    assert table.schema == schema and table.column("uid").to_pylist() == layout.ids[7:]
    got = np.array(table.column("emb").to_pylist(), dtype=np.float32)
    np.testing.assert_array_equal(got, layout.arrays["l14_img"][7:].astype(np.float32))


def test_array_errors_name_the_shard(tmp_path: Path) -> None:
    layout = datacomp_dir(tmp_path / "dc", shard_rows=(4,))
    with pytest.raises(ShardError, match=r"^shard 00000000: .* has no array 'l14' .*holds b32_img"):
        shard_counts(_shard(layout.path, "00000000", member="l14"))
    with pytest.raises(ShardError, match=r"^shard 00000000: .*parquet lacks columns nope"):
        shard_counts(_shard(layout.path, "00000000"), ["uid", "nope"])
    np.save(tmp_path / "flat.npy", np.zeros(4, dtype=np.float32))
    flat = Shard("7", f"{layout.path}/00000000.parquet", str(tmp_path / "flat.npy"))
    with pytest.raises(ShardError, match=r"^shard 7: .*flat.npy: expected a C-order float array"):
        shard_counts(flat)


def test_listing_a_missing_directory_names_it(tmp_path: Path) -> None:
    (tmp_path / "b.npz").write_bytes(b"")
    (tmp_path / "a.parquet").write_bytes(b"")
    (tmp_path / "sub").mkdir()
    for hidden in ("._a.parquet", ".DS_Store", "_SUCCESS"):
        (tmp_path / hidden).write_bytes(b"")
    assert list_files(str(tmp_path)) == ["a.parquet", "b.npz"]  # files only, sorted, not hidden
    with pytest.raises(ShardError, match=r"^input.path: '.*nowhere' is not a directory"):
        list_files(str(tmp_path / "nowhere"))
