"""Readers for the community's published embedding shards (DataComp, clip-retrieval/LAION).

``read_sharded(spark, cfg)`` turns ``input.format: datacomp | clip-retrieval`` into the same
DataFrame a Delta input gives: the metadata columns plus ``input.embedding_column``
(``array<float>``), read on the executors one task per shard.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from spark_prune.formats.errors import ShardError

if TYPE_CHECKING:
    from pyspark.sql import SparkSession

    from spark_prune.config import InputConfig
    from spark_prune.formats.reader import ShardedInput

__all__ = ["ShardError", "read_sharded"]


def read_sharded(spark: SparkSession, cfg: InputConfig) -> ShardedInput:
    """The rows of a DataComp or clip-retrieval directory, read on the executors."""
    from spark_prune.formats import clip_retrieval, datacomp
    from spark_prune.formats.reader import read_shards

    find = {"datacomp": datacomp.find_shards, "clip-retrieval": clip_retrieval.find_shards}
    shards = find[cfg.format](cfg.path, cfg.embedding_key)
    return read_shards(spark, shards, cfg.embedding_column, cfg.path, LAYOUTS[cfg.format])


LAYOUTS = {
    "datacomp": "<stem>.parquet files, each with a <stem>.npz beside it",
    "clip-retrieval": "metadata/metadata_N.parquet with img_emb/img_emb_N.npy (or the "
    "input.embedding_key folder)",
}
