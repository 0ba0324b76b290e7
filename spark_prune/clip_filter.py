"""CLIP-score filter: score = <image_emb, text_emb> (or a precomputed column), then a cut."""

from __future__ import annotations

import math
from collections.abc import Iterable, Iterator

import numpy as np
import pyarrow as pa
from pyspark.sql import DataFrame
from pyspark.sql import functions as F
from pyspark.sql import types as T

from spark_prune.config import ClipFilterConfig
from spark_prune.topn import top_n_flag


def pairwise_cosine(image: pa.Array, text: pa.Array) -> np.ndarray:
    """Row-wise cosine of two list<float> columns; NaN where either is null, empty or ragged."""
    n = len(image)
    scores = np.full(n, np.nan)
    if n == 0:
        return scores
    a_len = _lengths(image)
    b_len = _lengths(text)
    usable = (a_len == b_len) & (a_len > 0)
    for dim in np.unique(a_len[usable]):
        rows = np.flatnonzero(usable & (a_len == dim))
        a = _rows_matrix(image, rows, int(dim))
        b = _rows_matrix(text, rows, int(dim))
        na, nb = np.linalg.norm(a, axis=1), np.linalg.norm(b, axis=1)
        with np.errstate(invalid="ignore", divide="ignore"):
            scores[rows] = np.einsum("ij,ij->i", a, b) / (na * nb)
    return np.where(np.isfinite(scores), scores, np.nan)


def _lengths(column: pa.Array) -> np.ndarray:
    lengths = column.value_lengths().fill_null(-1).to_numpy(zero_copy_only=False)
    return np.asarray(lengths, dtype=np.int64)


def _rows_matrix(column: pa.Array, rows: np.ndarray, dim: int) -> np.ndarray:
    taken = column.take(pa.array(rows))
    flat = taken.flatten().to_numpy(zero_copy_only=False).astype(np.float64)
    return flat.reshape(len(rows), dim)


def clip_scores(df: DataFrame, cfg: ClipFilterConfig, id_col: str) -> DataFrame:
    """``id, clip_score`` (double, null when it cannot be computed) for every row of ``df``."""
    if cfg.score_column:
        return df.select(id_col, F.col(cfg.score_column).cast("double").alias("clip_score"))
    image_col, text_col = cfg.image_column, cfg.text_column
    source = df.select(id_col, image_col, text_col)
    schema = T.StructType([source.schema[id_col], T.StructField("clip_score", T.DoubleType())])

    def score_batches(batches: Iterable[pa.RecordBatch]) -> Iterator[pa.RecordBatch]:
        for batch in batches:
            scores = pairwise_cosine(batch.column(image_col), batch.column(text_col))
            arr = pa.array(scores, pa.float64(), mask=np.isnan(scores))
            yield pa.RecordBatch.from_arrays([batch.column(id_col), arr], [id_col, "clip_score"])

    return source.mapInArrow(score_batches, schema)


def clip_decisions(
    scores: DataFrame, cfg: ClipFilterConfig, id_col: str, n_scored: int
) -> DataFrame:
    """``id, clip_score, clip_removed`` where clip_removed is null for rows with no score."""
    score = F.col("clip_score")
    if cfg.threshold is not None:
        return scores.withColumn(
            "clip_removed", F.when(score.isNull(), None).otherwise(score < F.lit(cfg.threshold))
        )
    assert cfg.keep_fraction is not None
    keep = int(math.floor(cfg.keep_fraction * n_scored + 0.5))
    scored = scores.filter(score.isNotNull())
    # the top ``keep`` scores (ties by id) by a distributed threshold search, no global window
    kept = top_n_flag(scored, [("clip_score", False), (id_col, True)], keep, n_scored)
    return scores.withColumn("clip_removed", F.when(score.isNull(), None).otherwise(~kept))
