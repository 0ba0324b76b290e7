"""The embedding stage: open_clip inside a Spark iterator pandas UDF, cached in a Delta table.

``embed(spark, df, cfg, id_col)`` returns ``df`` plus ``image_emb``/``text_emb``
(``array<float>``, L2-normalised), ``clip_score`` (``float``, cosine, when both towers run) and
``embed_error`` (null when fine), and an info dict for the manifest.

* The UDF receives only the image and caption columns; it decodes and preprocesses inside the
  batch, so a corrupt image or a null caption gives a null embedding and a reason, never a failed
  task. The model is loaded once per Python worker (``models.load_model``'s cache).
* Path images (``image_kind: path``) are read by the worker with Python (local paths,
  ``file:`` URIs, ``/dbfs/`` and ``/Volumes/`` mounts; other URIs through fsspec when installed),
  so an unreadable file is one row's error, not a failed job.
* With ``cfg.cache_path`` (a Delta path or a table name) the embeddings are kept keyed by id and
  by a key of the model and inputs (``embed_key``). A rerun embeds only ids missing from the
  cache (left anti join), appends them, and returns the input joined with the cache. Ids must be
  unique and immutable (a changed image under the same id is not re-embedded). Rows that failed
  with an I/O error are retried on the next run.
* Deterministic: every model call sees exactly ``batch_size`` rows (see ``batch.py``).
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import re
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pandas as pd
from pyspark.sql import Column, DataFrame, SparkSession
from pyspark.sql import functions as F
from pyspark.sql import types as T

from spark_prune.config import EmbedConfig
from spark_prune.contract import EMBED_ERROR
from spark_prune.embed.batch import embed_rows
from spark_prune.embed.models import LOAD_LOG_ENV, file_sha256, load_model, model_info
from spark_prune.errors import ConfigError, InputError
from spark_prune.images import READ_ERROR
from spark_prune.lake import DeltaLocation, parse_user_metadata

log = logging.getLogger(__name__)

KEY_COLUMN = "embed_key"
IMAGE, TEXT, SCORE = "image_emb", "text_emb", "clip_score"
"""Column names inside the cache table (fixed); renamed to the cfg names on the way out."""

_STRUCT = "_spark_prune_embed"
_ARROW_BATCH_CONF = "spark.sql.execution.arrow.maxRecordsPerBatch"


def embed(
    spark: SparkSession, df: DataFrame, cfg: EmbedConfig, id_col: str, source: str | None = None
) -> tuple[DataFrame, dict[str, Any]]:
    """``df`` with the embedding columns added, and what happened (for the manifest).

    ``source`` names what ``df`` was read from (``path@version``); with the cache key it makes
    the idempotent-append id, so a retried step over the same input never appends the same
    rows twice (``append_transaction``)."""
    _check_input(df, cfg, id_col)
    key = cache_key(cfg)
    info: dict[str, Any] = {
        "model": model_info(cfg, _expected_device(spark, cfg)),
        "cache_key": key,
        "cache_path": cfg.cache_path,
        "batch_size": cfg.batch_size,
        "image_column": cfg.image_column,
        "image_kind": cfg.image_kind,
        "text_column": cfg.text_column,
        "columns": output_columns(cfg),
    }
    base = _drop_outputs(df, cfg)
    if cfg.cache_path is None:
        rows, with_id = _row_counts(df, id_col)
        info.update(rows=rows, embedded=rows, reused=0, null_ids=rows - with_id)
        return _attach(base, with_embeddings(base, cfg), cfg), info
    return _embed_incremental(spark, base, cfg, id_col, key, info, source)


def output_columns(cfg: EmbedConfig) -> list[str]:
    """The columns ``embed`` adds, in order."""
    return [name for _, name in _output_names(cfg)] + [EMBED_ERROR]


def _output_names(cfg: EmbedConfig) -> list[tuple[str, str]]:
    """(cache/UDF name, configured output name) of the embedding columns this config makes."""
    use_image, use_text = cfg.image_column is not None, cfg.text_column is not None
    pairs = [
        (IMAGE, cfg.image_emb_column, use_image),
        (TEXT, cfg.text_emb_column, use_text),
        (SCORE, cfg.clip_score_column, use_image and use_text),
    ]
    return [(canonical, name) for canonical, name, used in pairs if used]


def with_embeddings(df: DataFrame, cfg: EmbedConfig) -> DataFrame:
    """``df`` plus a struct column of the canonical outputs, computed lazily by the UDF."""
    udf = embedding_udf(cfg, os.environ.get(LOAD_LOG_ENV))
    return df.withColumn(_STRUCT, udf(_image_input(cfg), _text_input(cfg)))


def _attach(base: DataFrame, embedded: DataFrame, cfg: EmbedConfig) -> DataFrame:
    """Expand the UDF struct into the configured output columns (no cache)."""
    struct = F.col(_STRUCT)
    return embedded.select(
        *[F.col(c) for c in base.columns],
        *[struct[c].alias(name) for c, name in _output_names(cfg)],
        struct[EMBED_ERROR].alias(EMBED_ERROR),
    )


def _image_input(cfg: EmbedConfig) -> Column:
    kind = "string" if cfg.image_kind == "path" else "binary"
    if cfg.image_column is None:
        return F.lit(None).cast(kind)
    return F.col(cfg.image_column).cast(kind)


def _text_input(cfg: EmbedConfig) -> Column:
    if cfg.text_column is None:
        return F.lit(None).cast("string")
    return F.col(cfg.text_column).cast("string")


def output_schema() -> T.StructType:
    """The UDF's struct: both embeddings, the score and the reason (unused ones stay null)."""
    vector = T.ArrayType(T.FloatType(), containsNull=False)
    return T.StructType(
        [
            T.StructField(IMAGE, vector),
            T.StructField(TEXT, vector),
            T.StructField(SCORE, T.FloatType()),
            T.StructField(EMBED_ERROR, T.StringType()),
        ]
    )


def embedding_udf(cfg: EmbedConfig, load_log: str | None = None) -> Any:
    """A scalar iterator pandas UDF ``(image, caption) -> struct`` (see :func:`output_schema`)."""
    use_image, use_text = cfg.image_column is not None, cfg.text_column is not None

    @F.pandas_udf(output_schema())  # type: ignore[call-overload]
    def embed_batches(batches: Iterator[tuple[pd.Series, pd.Series]]) -> Iterator[pd.DataFrame]:
        for images, texts in batches:
            loaded = load_model(cfg, load_log=load_log)  # cached: one load per Python worker
            result = embed_rows(
                loaded,
                images.tolist() if use_image else None,
                texts.tolist() if use_text else None,
                cfg.batch_size,
                cfg.image_kind,
            )
            n = len(images)
            yield pd.DataFrame(
                {
                    IMAGE: result.image if result.image is not None else [None] * n,
                    TEXT: result.text if result.text is not None else [None] * n,
                    SCORE: result.clip_score if result.clip_score is not None else [None] * n,
                    EMBED_ERROR: result.errors,
                }
            )

    return embed_batches


def _embed_incremental(
    spark: SparkSession,
    base: DataFrame,
    cfg: EmbedConfig,
    id_col: str,
    key: str,
    info: dict[str, Any],
    source: str | None = None,
) -> tuple[DataFrame, dict[str, Any]]:
    assert cfg.cache_path is not None
    cache = DeltaLocation(cfg.cache_path)
    rows, with_id = _row_counts(base, id_col)
    todo = base.filter(F.col(id_col).isNotNull())
    snapshot = None
    if cache.exists(spark):
        _forget_read_errors(spark, cache, key)
        snapshot = cache.latest_version(spark)  # todo is computed against exactly this version
        todo = _not_cached(spark, todo, cache.read(spark, snapshot), id_col, key)
    embedded = 0
    if not todo.isEmpty():
        txn = append_transaction(key, source, snapshot)
        embedded = _append(spark, todo, cfg, id_col, key, cache, txn)
    out = _join_cached(base, cache.read(spark), cfg, id_col, key)
    info.update(
        rows=rows,
        embedded=embedded,
        reused=with_id - embedded,
        null_ids=rows - with_id,
        cache_version=cache.latest_version(spark),
    )
    log.info(
        "embed: %d rows, %d newly embedded, %d reused from %s",
        rows,
        embedded,
        with_id - embedded,
        cache.ref,
    )
    return out, info


def _join_cached(
    base: DataFrame, cache: DataFrame, cfg: EmbedConfig, id_col: str, key: str
) -> DataFrame:
    """``base`` left-joined with its cached outputs, under the configured column names."""

    def private(name: str) -> str:
        return f"{_STRUCT}_{name}"

    cached = cache.filter(F.col(KEY_COLUMN) == key).select(
        id_col, *[F.col(c).alias(private(c)) for c in (IMAGE, TEXT, SCORE, EMBED_ERROR)]
    )
    joined = base.join(cached, on=id_col, how="left")
    error = F.when(F.col(id_col).isNull(), F.lit("id: null")).otherwise(F.col(private(EMBED_ERROR)))
    return joined.select(
        *[F.col(c) for c in base.columns],
        *[F.col(private(c)).alias(name) for c, name in _output_names(cfg)],
        error.alias(EMBED_ERROR),
    )


def _not_cached(
    spark: SparkSession, todo: DataFrame, cache: DataFrame, id_col: str, key: str
) -> DataFrame:
    """Rows whose id is not in the cache for ``key``, spread over the shuffle partitions.

    An explicit ``repartition(n, id)`` on both sides: the join reuses it, and adaptive execution
    does not coalesce it into a few partitions (the UDF after it is the expensive part).
    """
    n = int(spark.conf.get("spark.sql.shuffle.partitions") or "200")
    ids = cache.filter(F.col(KEY_COLUMN) == key).select(id_col)
    return todo.repartition(n, id_col).join(ids.repartition(n, id_col), id_col, "left_anti")


def append_transaction(key: str, source: str | None, snapshot: int | None) -> tuple[str, int]:
    """Delta's idempotent-write pair (``txnAppId``, ``txnVersion``) of one cache append.

    The app id is this cache key and input (``source``); the version is one past the cache
    version the missing rows were computed against (0 for a new cache). A retried step (the
    same input, the same cache snapshot) repeats the pair and Delta skips its append; the next
    real append sees a newer snapshot, so its version is larger and it goes through.
    """
    ident = hashlib.sha256(json.dumps([key, source]).encode()).hexdigest()[:16]
    return f"spark_prune.embed.{ident}", 0 if snapshot is None else snapshot + 1


def append_once(
    spark: SparkSession,
    cache: DeltaLocation,
    rows: DataFrame,
    meta: dict[str, Any],
    txn: tuple[str, int],
) -> int:
    """Append ``rows`` under ``txn``; the rows this call committed (0: Delta skipped it as a
    repeat of a committed transaction)."""
    token = uuid.uuid4().hex  # finds this call's commit in the history afterwards
    cache.append(rows, {**meta, "write_token": token}, txn)
    for commit in cache.history(spark, 20).collect():
        if parse_user_metadata(commit["userMetadata"]).get("write_token") == token:
            return int((commit["operationMetrics"] or {}).get("numOutputRows", 0))
    log.info("embed: append %s v%d was already committed; skipped", *txn)
    return 0


def _append(
    spark: SparkSession,
    todo: DataFrame,
    cfg: EmbedConfig,
    id_col: str,
    key: str,
    cache: DeltaLocation,
    txn: tuple[str, int],
) -> int:
    """Embed ``todo`` and append it to the cache, idempotently under ``txn``; the number of
    rows written."""
    struct = F.col(_STRUCT)
    new = with_embeddings(todo, cfg).select(
        id_col,
        *[struct[c].alias(c) for c in (IMAGE, TEXT, SCORE, EMBED_ERROR)],
        F.lit(key).alias(KEY_COLUMN),
    )
    meta = {"spark_prune": "embed", "embed_key": key, "model": cfg.model}
    with arrow_batch_size(spark, cfg.batch_size):
        return append_once(spark, cache, new, meta, txn)


def _forget_read_errors(spark: SparkSession, cache: DeltaLocation, key: str) -> None:
    """Delete cached I/O failures (possibly transient) so that this run retries them."""
    failed = (F.col(KEY_COLUMN) == key) & F.col(EMBED_ERROR).startswith(READ_ERROR)
    if cache.read(spark).filter(failed).isEmpty():
        return
    cache.delta_table(spark).delete(failed)


def _row_counts(df: DataFrame, id_col: str) -> tuple[int, int]:
    row = df.agg(F.count(F.lit(1)).alias("rows"), F.count(F.col(id_col)).alias("ids")).first()
    assert row is not None
    return int(row["rows"]), int(row["ids"])


def _check_input(df: DataFrame, cfg: EmbedConfig, id_col: str) -> None:
    wanted = [id_col, cfg.image_column, cfg.text_column]
    missing = [c for c in wanted if c is not None and c not in df.columns]
    if missing:
        raise InputError(
            f"embed: the input has no column {missing[0]!r} (embed.image_column, "
            f"embed.text_column or input.id_column); its columns are: {', '.join(df.columns)}"
        )
    if cfg.image_column is None and cfg.text_column is None:
        raise ConfigError("embed.image_column: set embed.image_column, embed.text_column or both")


def _drop_outputs(df: DataFrame, cfg: EmbedConfig) -> DataFrame:
    clash = [c for c in output_columns(cfg) if c in df.columns]
    if clash:
        log.warning("embed: input columns %s are replaced by the new embeddings", clash)
    return df.drop(*clash)


def cache_key(cfg: EmbedConfig) -> str:
    """What the cached rows depend on: model, weights, precision, preprocessing, input columns."""
    weights = cfg.pretrained or ""
    if cfg.checkpoint:
        weights = file_sha256(cfg.checkpoint) or cfg.checkpoint
    parts = [
        cfg.model,
        weights,
        cfg.precision,
        cfg.image_mean,
        cfg.image_std,
        cfg.image_column,
        cfg.image_kind,
        cfg.text_column,
    ]
    digest = hashlib.sha256(json.dumps(parts, default=list).encode()).hexdigest()[:16]
    return f"{re.sub(r'[^A-Za-z0-9_.-]', '_', cfg.model)}-{digest}"


def _expected_device(spark: SparkSession, cfg: EmbedConfig) -> str:
    """Where the executors will run, as far as the driver can tell (for the manifest)."""
    if cfg.device != "auto":
        return cfg.device
    for conf in ("spark.task.resource.gpu.amount", "spark.executor.resource.gpu.amount"):
        try:
            if float(spark.conf.get(conf, "0") or 0) > 0:
                return "cuda"
        except Exception:  # not readable (Spark Connect) or not a number
            continue
    import torch

    return "cuda" if torch.cuda.is_available() else "cpu"


@contextmanager
def arrow_batch_size(spark: SparkSession, rows: int) -> Iterator[None]:
    """Arrow batches of ``rows`` rows while embedding (the default 10,000 images is ~GBs)."""
    previous = spark.conf.get(_ARROW_BATCH_CONF, None)
    spark.conf.set(_ARROW_BATCH_CONF, str(rows))
    try:
        yield
    finally:
        if previous is None:
            spark.conf.unset(_ARROW_BATCH_CONF)
        else:
            spark.conf.set(_ARROW_BATCH_CONF, previous)
