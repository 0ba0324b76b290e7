"""Row-aligned shard pairs (a metadata Parquet file + an embeddings array), read in a task.

A sharded input is a list of ``Shard``s found by listing a directory on the driver (one small
row per shard). ``shard_counts`` reads only the Parquet footer and the array's ``.npy`` header,
so a misaligned shard is found before any heavy work; ``read_shard_rows`` streams the Parquet
file in batches and reads the matching rows of the array (float16 widened to float32) as an
Arrow ``list<float>`` column, so a task holds one batch, never the whole shard.

Paths are local or object-store URIs (``s3://``, ``gs://``, ``abfs://``, ``file:``), opened with
``pyarrow.fs.FileSystem.from_uri``.
"""

from __future__ import annotations

import os
import zipfile
from collections.abc import Iterator, Sequence
from contextlib import ExitStack
from dataclasses import dataclass
from typing import IO

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
from pyarrow import fs as pafs

from spark_prune.formats.errors import ShardError

BATCH_ROWS = 8192


@dataclass(frozen=True)
class Shard:
    """One row-aligned pair: ``parquet`` rows and ``array`` rows, in the same order.

    ``member`` names the array inside an ``.npz`` file (None for a plain ``.npy``).
    """

    name: str
    parquet: str
    array: str
    member: str | None = None


def open_fs(uri: str) -> tuple[pafs.FileSystem, str]:
    """The filesystem and in-filesystem path for a local path or a URI."""
    if "://" not in uri and not uri.startswith("file:"):
        return pafs.LocalFileSystem(), os.path.abspath(uri)
    try:
        return pafs.FileSystem.from_uri(uri)
    except Exception as exc:
        raise ShardError(f"input.path {uri!r}: {str(exc).splitlines()[0]}") from exc


def join_uri(base: str, *parts: str) -> str:
    return "/".join([base.rstrip("/"), *parts])


def hidden(name: str) -> bool:
    """A file or directory name Spark and Hadoop skip: starting with ``.`` or ``_`` (macOS
    ``._*`` copies, ``.DS_Store``, ``_SUCCESS`` markers)."""
    return name.startswith((".", "_"))


def list_files(uri: str) -> list[str]:
    """Base names of the files directly under ``uri`` (an error naming it if it is missing),
    without ``hidden`` ones."""
    fs, path = open_fs(uri)
    if fs.get_file_info(path).type != pafs.FileType.Directory:
        raise ShardError(f"input.path: {uri!r} is not a directory")
    infos = fs.get_file_info(pafs.FileSelector(path, recursive=False))
    names = (i.base_name for i in infos if i.type == pafs.FileType.File)
    return sorted(name for name in names if not hidden(name))


def _open(uri: str) -> pa.NativeFile:
    fs, path = open_fs(uri)
    return fs.open_input_file(path)


class ArrayReader:
    """Sequential row blocks of a 2-d ``.npy`` array (plain or inside an ``.npz``), read from
    its header on, never the whole array at once."""

    def __init__(self, shard: Shard, stack: ExitStack) -> None:
        self.shard = shard
        stream: IO[bytes] = stack.enter_context(_open(shard.array))
        if shard.member is not None:
            archive = stack.enter_context(zipfile.ZipFile(stream))
            name = f"{shard.member}.npy"
            if name not in archive.namelist():
                keys = ", ".join(sorted(n.removesuffix(".npy") for n in archive.namelist()))
                raise ShardError(
                    f"shard {shard.name}: {shard.array} has no array {shard.member!r} "
                    f"(input.embedding_key); it holds {keys}"
                )
            stream = stack.enter_context(archive.open(name))
        self.stream = stream
        self.rows, self.dim, self.dtype = self._header()
        self.done = 0

    def _header(self) -> tuple[int, int, np.dtype]:
        where = f"shard {self.shard.name}: {self.shard.array}"
        try:
            version = np.lib.format.read_magic(self.stream)
            if version == (1, 0):
                shape, fortran, dtype = np.lib.format.read_array_header_1_0(self.stream)
            else:
                shape, fortran, dtype = np.lib.format.read_array_header_2_0(self.stream)
        except ValueError as exc:
            raise ShardError(f"{where} is not a .npy array ({exc})") from exc
        if len(shape) != 2 or fortran or dtype.kind != "f":
            raise ShardError(
                f"{where}: expected a C-order float array of shape (rows, dim), got "
                f"shape {shape}, dtype {dtype}{', Fortran order' if fortran else ''}"
            )
        return int(shape[0]), int(shape[1]), np.dtype(dtype)

    def read(self, rows: int) -> np.ndarray:
        """The next ``rows`` rows as float32."""
        data = self.stream.read(rows * self.dim * self.dtype.itemsize)
        block = np.frombuffer(data, dtype=self.dtype)
        if block.size != rows * self.dim:
            raise ShardError(
                f"shard {self.shard.name}: {self.shard.array} ended after "
                f"{self.done + block.size // self.dim} rows"
            )
        self.done += rows
        return block.reshape(rows, self.dim).astype(np.float32)


def shard_counts(shard: Shard, columns: Sequence[str] = ()) -> tuple[int, int, int]:
    """Parquet rows, array rows and array width, from the footer and the header only; an
    error naming the shard if its Parquet file lacks any of ``columns``."""
    with ExitStack() as stack:
        parquet = pq.ParquetFile(stack.enter_context(_open(shard.parquet)))
        check_columns(shard, parquet, columns)
        array = ArrayReader(shard, stack)
        return int(parquet.metadata.num_rows), array.rows, array.dim


def check_columns(shard: Shard, parquet: pq.ParquetFile, columns: Sequence[str]) -> None:
    missing = sorted(set(columns) - set(parquet.schema_arrow.names))
    if missing:
        raise ShardError(
            f"shard {shard.name}: {shard.parquet} lacks columns {', '.join(missing)} "
            f"(all shards need the first shard's columns)"
        )


def parquet_schema(shard: Shard) -> pa.Schema:
    with _open(shard.parquet) as stream:
        return pq.ParquetFile(stream).schema_arrow


def embedding_array(block: np.ndarray) -> pa.Array:
    """A (rows, dim) float32 block as Arrow ``list<float>`` (Spark ``array<float>``)."""
    rows, dim = block.shape
    offsets = pa.array(np.arange(0, (rows + 1) * dim, dim, dtype=np.int32))
    return pa.ListArray.from_arrays(offsets, pa.array(block.reshape(-1), type=pa.float32()))


def read_shard_rows(
    shard: Shard, schema: pa.Schema, column: str, batch_rows: int = BATCH_ROWS
) -> Iterator[pa.RecordBatch]:
    """The shard's Parquet rows in batches, each with its rows of the array as ``column``.

    ``schema`` is the output schema: the Parquet columns (cast to it) and ``column`` last.
    """
    meta_schema = schema.remove(schema.get_field_index(column))
    with ExitStack() as stack:
        parquet = pq.ParquetFile(stack.enter_context(_open(shard.parquet)))
        check_columns(shard, parquet, meta_schema.names)
        array = ArrayReader(shard, stack)
        if array.rows != parquet.metadata.num_rows:
            raise ShardError(mismatch_message(shard, parquet.metadata.num_rows, array.rows))
        for batch in parquet.iter_batches(batch_size=batch_rows, columns=meta_schema.names):
            table = pa.Table.from_batches([batch]).select(meta_schema.names).cast(meta_schema)
            emb = embedding_array(array.read(batch.num_rows))
            yield from table.append_column(schema.field(column), emb).to_batches()


def mismatch_message(shard: Shard, parquet_rows: int, array_rows: int) -> str:
    return (
        f"shard {shard.name}: {shard.parquet} has {parquet_rows} rows but {shard.array} has "
        f"{array_rows}; the two files of a shard must be row-aligned"
    )
