"""The files digest of an input without a Delta version: it changes with its files only."""

from __future__ import annotations

import os
from pathlib import Path

from pyspark.sql import SparkSession

from spark_prune.config import InputConfig
from spark_prune.input_files import _listing, files_fingerprint


def test_the_digest_follows_names_sizes_and_times(spark: SparkSession, tmp_path: Path) -> None:
    source = tmp_path / "pq"
    spark.range(10).write.parquet(str(source))
    cfg = InputConfig(path=str(source), format="parquet")
    frame = spark.read.parquet(str(source))
    first = files_fingerprint(cfg, frame)
    assert files_fingerprint(cfg, frame) == first  # stable
    (source / ".DS_Store").write_bytes(b"finder")  # hidden files, as Spark skips them
    (source / "_temporary").mkdir(exist_ok=True)
    (source / "_temporary" / "part-x.parquet").write_bytes(b"half written")
    assert files_fingerprint(cfg, frame) == first
    part = next(source.glob("part-*.parquet"))
    stat = part.stat()
    os.utime(part, ns=(stat.st_atime_ns, stat.st_mtime_ns + 10**9))  # rewritten in place
    touched = files_fingerprint(cfg, frame)
    assert touched != first
    spark.range(3).write.mode("append").parquet(str(source))  # a new file
    assert files_fingerprint(cfg, spark.read.parquet(str(source))) not in (first, touched)


def test_a_catalog_table_or_a_path_pyarrow_cannot_list_uses_sparks_file_names(
    spark: SparkSession, tmp_path: Path
) -> None:
    assert _listing("dbfs:/mnt/raw/images") is None  # a Hadoop-only scheme
    spark.range(4).write.parquet(str(tmp_path / "t"))
    frame = spark.read.parquet(str(tmp_path / "t"))
    table = InputConfig(path="db.images", format="table")
    digest = files_fingerprint(table, frame)
    assert digest == files_fingerprint(table, frame) and len(digest) == 24
    spark.range(2).write.mode("append").parquet(str(tmp_path / "t"))
    assert files_fingerprint(table, spark.read.parquet(str(tmp_path / "t"))) != digest
