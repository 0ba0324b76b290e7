"""Nearest-centroid assignment on Spark: one ``mapInArrow`` for DBP and SemDeDup alike."""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence

import numpy as np
import pyarrow as pa
from pyspark.sql import DataFrame
from pyspark.sql import types as T

from spark_prune.core.assign import nearest_centroids, two_nearest_centroids
from spark_prune.core.vectors import arrow_list_to_matrix, l2_normalize, matrix_to_binary


def assign_clusters(
    df: DataFrame,
    centroids: np.ndarray,
    id_col: str,
    emb_col: str,
    dim: int,
    cluster_col: str = "cluster_id",
    dist_col: str = "dist",
    passthrough: Sequence[str] = (),
    embedding_bytes_col: str | None = None,
    second_cols: tuple[str, str] | None = None,
    cluster_ids: np.ndarray | None = None,
) -> DataFrame:
    """Rows of ``df`` (valid embeddings only) -> ``id, passthrough..., [bytes], cluster_id, dist``.

    ``embedding_bytes_col``: also pass the raw embedding on as float32 bytes, which Spark moves
    through a shuffle and into Arrow far more cheaply than ``array<float>`` (SemDeDup).
    ``second_cols``: also the second-nearest centroid and its distance under these names
    (SemDeDup's ``border_margin``).
    The centroid matrix travels inside the function's closure (fine up to tens of MB and it
    works on Spark Connect, where broadcast variables do not exist).
    ``cluster_ids``: the id of each centroid row (frozen centroids of an earlier run, where
    clusters that were empty are absent); default: the row index.
    """
    centroids = np.ascontiguousarray(centroids, dtype=np.float32)
    source = df.select(*dict.fromkeys([id_col, *passthrough, emb_col]))
    keep = list(dict.fromkeys([id_col, *passthrough]))
    fields = [source.schema[c] for c in keep]
    if embedding_bytes_col:
        fields.append(T.StructField(embedding_bytes_col, T.BinaryType(), False))
    fields += [
        T.StructField(cluster_col, T.IntegerType(), False),
        T.StructField(dist_col, T.DoubleType(), False),
    ]
    if second_cols:
        fields += [
            T.StructField(second_cols[0], T.IntegerType(), False),
            T.StructField(second_cols[1], T.DoubleType(), False),
        ]
    schema = T.StructType(fields)
    large = _large_binary(df) if embedding_bytes_col else False
    id_map = None if cluster_ids is None else np.asarray(cluster_ids, dtype=np.int32)

    def assign_batches(batches: Iterable[pa.RecordBatch]) -> Iterator[pa.RecordBatch]:
        for batch in batches:
            x = arrow_list_to_matrix(batch.column(emb_col), dim)
            unit = l2_normalize(x)
            if second_cols:
                cluster, dist, runner, runner_dist = two_nearest_centroids(unit, centroids)
                if id_map is not None:  # -1 (one centroid: no second) stays -1
                    runner = np.where(runner < 0, runner, id_map[np.maximum(runner, 0)])
            else:
                cluster, dist = nearest_centroids(unit, centroids)
            if id_map is not None:
                cluster = id_map[cluster]
            columns = [batch.column(c) for c in keep]
            if embedding_bytes_col:
                columns.append(matrix_to_binary(x, large))
            columns += [pa.array(cluster, pa.int32()), pa.array(dist, pa.float64())]
            if second_cols:
                columns += [pa.array(runner, pa.int32()), pa.array(runner_dist, pa.float64())]
            yield pa.RecordBatch.from_arrays(columns, names=schema.fieldNames())

    return source.mapInArrow(assign_batches, schema)


def _large_binary(df: DataFrame) -> bool:
    conf = df.sparkSession.conf.get("spark.sql.execution.arrow.useLargeVarTypes", "false")
    return str(conf).lower() == "true"
