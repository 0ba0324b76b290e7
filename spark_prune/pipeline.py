"""The whole run: read → (embed) → validate → SemDeDup → CLIP-score filter → DBP → write.

Every stage is a function over DataFrames; this module only wires them together, keeps the
per-stage counts and timings, and writes the output contract (design.md).
"""

from __future__ import annotations

import logging
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from datetime import datetime, timezone
from typing import Any

from pyspark import StorageLevel
from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F
from pyspark.sql import types as T

from spark_prune import dbp, manifest
from spark_prune.assign import assign_clusters
from spark_prune.clip_filter import clip_decisions, clip_scores
from spark_prune.config import PipelineConfig
from spark_prune.contract import REPORT_FILE
from spark_prune.io import OutputLocation, read_input, remove_file, with_absolute_paths
from spark_prune.kmeans import fit_kmeans
from spark_prune.lease import acquire, lease_dir
from spark_prune.preflight import check_locations, check_rows, row_counts
from spark_prune.progress import logged_progress
from spark_prune.validate import (
    INVALID_DETAIL,
    as_array_embeddings,
    check_columns,
    check_unique_ids,
    infer_dimension,
    with_invalid_detail,
)

log = logging.getLogger(__name__)

REASONS = ("invalid", "semdedup", "clip_score", "dbp")
EMBED_ERROR = "embed_error"


@dataclass
class RunState:
    """What a run learns as it goes; becomes the manifest."""

    run_id: str
    started: str
    timings: dict[str, float] = field(default_factory=dict)
    counts: dict[str, int] = field(default_factory=dict)
    info: dict[str, Any] = field(default_factory=dict)
    cached: list[DataFrame] = field(default_factory=list)
    spark: SparkSession | None = None  # for progress lines while a stage runs

    def persist(self, df: DataFrame) -> DataFrame:
        """Cache a small intermediate result that several later steps read."""
        self.cached.append(df.persist(StorageLevel.MEMORY_AND_DISK))
        return df

    def release(self) -> None:
        for df in self.cached:
            df.unpersist()
        self.cached.clear()

    @contextmanager
    def stage(self, name: str) -> Iterator[None]:
        log.info("[%s] %s ...", self.run_id, name)
        start = time.perf_counter()
        if self.spark is None:
            yield
        else:
            with logged_progress(self.spark, f"[{self.run_id}] {name}"):
                yield
        seconds = time.perf_counter() - start
        self.timings[name] = round(seconds, 3)
        log.info("[%s] %s done in %.1fs", self.run_id, name, seconds)


@dataclass(frozen=True)
class RunResult:
    run_id: str
    output: OutputLocation
    manifest: dict[str, Any]

    @property
    def counts(self) -> dict[str, int]:
        return dict(self.manifest["counts"])


def run(
    spark: SparkSession, cfg: PipelineConfig, semdedup_from: DataFrame | None = None
) -> RunResult:
    """Run the configured stages and write ``pruned``, ``decisions``, ``clusters``, manifest.

    ``semdedup_from``: stored ``id, semdedup_*`` columns of an earlier run over the same input
    version; SemDeDup then re-applies ``semdedup.eps`` to them instead of recomputing
    similarities (``spark-prune rethreshold``).
    """
    cfg = with_absolute_paths(cfg)
    state = RunState(
        run_id=cfg.run_id
        or datetime.now(timezone.utc).strftime("%Y%m%dT%H%M%SZ-") + uuid.uuid4().hex[:8],
        started=_now(),
        spark=spark,
    )
    out = OutputLocation(cfg.output)
    check_locations(spark, cfg)
    lease = acquire(spark, lease_dir(cfg.output.path, cfg.output.manifest_path), state.run_id)
    try:
        out.check_writable(spark)
        return _run_locked(spark, cfg, state, out, semdedup_from)
    finally:
        lease.release()


def _run_locked(
    spark: SparkSession,
    cfg: PipelineConfig,
    state: RunState,
    out: OutputLocation,
    semdedup_from: DataFrame | None,
) -> RunResult:
    id_col = cfg.input.id_column
    with state.stage("read"):
        source, version = read_input(spark, cfg.input)
        state.info["input_version"] = version
    if cfg.embed.enabled:
        with state.stage("embed"):
            source = _embed(spark, source, cfg, state)
    emb_col = cfg.input.embedding_column
    with state.stage("validate"):
        check_columns(source, id_col, emb_col)
        check_unique_ids(source, id_col)
        arrays = as_array_embeddings(source, emb_col)  # Spark ML vectors -> array<float>
        dim = cfg.input.embedding_dim or infer_dimension(arrays, emb_col)
        state.info["embedding_dim"] = dim
        base = _with_detail(arrays, cfg, dim)
        rows, n_valid = row_counts(base, INVALID_DETAIL)
        state.info["rows_read"] = rows
        check_rows(cfg, rows, n_valid, version)
    valid = base.filter(F.col(INVALID_DETAIL).isNull()).drop(INVALID_DETAIL)

    try:
        semdedup_rows = clip_rows = selected = clusters = None
        if n_valid == 0 or dim is None:  # every row invalid: recorded as such, no stage runs
            log.warning("[%s] no valid embedding in %s: every row is invalid", state.run_id,
                        cfg.input.path)  # fmt: skip
        else:
            survivors, semdedup_rows = _semdedup_stage(spark, valid, cfg, dim, state, semdedup_from)
            survivors, clip_rows = _clip_stage(survivors, cfg, state)
            selected, clusters = _dbp_stage(spark, survivors, cfg, dim, state)
        decisions = _decisions(base, id_col, semdedup_rows, clip_rows, selected, cfg)
        return _write_outputs(spark, cfg, out, source, decisions, clusters, state)
    finally:
        state.release()


def _now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


def _embed(
    spark: SparkSession, source: DataFrame, cfg: PipelineConfig, state: RunState
) -> DataFrame:
    from spark_prune.embed import embed  # torch and open_clip only when embedding

    where = f"{cfg.input.path}@{state.info.get('input_version')}"
    embedded, info = embed(
        spark, source, embed_with_cache(cfg).embed, cfg.input.id_column, source=where
    )
    state.info["embed"] = info
    return embedded


def embed_with_cache(cfg: PipelineConfig) -> PipelineConfig:
    """The config with embedding on and a cache table (default ``<output>/embeddings``), so
    later runs and stages read the stored embeddings instead of rerunning the model."""
    embed_cfg = replace(cfg.embed, enabled=True)
    if embed_cfg.cache_path is None:
        embed_cfg = replace(
            embed_cfg, cache_path=OutputLocation(cfg.output).table_ref("embeddings")
        )
    embed_cfg.validate("embed")
    return replace(cfg, embed=embed_cfg)


def embed_only(spark: SparkSession, cfg: PipelineConfig) -> dict[str, Any]:
    """The embed stage alone (a separate job step): fill the embeddings cache table for the
    input's new ids and return what it did."""
    from spark_prune.embed import embed

    cfg = embed_with_cache(with_absolute_paths(cfg))
    source, version = read_input(spark, cfg.input)
    _, info = embed(spark, source, cfg.embed, cfg.input.id_column, f"{cfg.input.path}@{version}")
    return {
        "input": cfg.input.path,
        "input_version": version,
        "cache": cfg.embed.cache_path,
        **info,
    }


def _with_detail(source: DataFrame, cfg: PipelineConfig, dim: int | None) -> DataFrame:
    """All rows with the columns later stages need and why a row is invalid (null if fine)."""
    id_col, emb_col = cfg.input.id_column, cfg.input.embedding_column
    wanted = [id_col, emb_col, *_clip_columns(cfg)]
    if EMBED_ERROR in source.columns:
        wanted.append(EMBED_ERROR)
    projected = with_invalid_detail(source.select(*dict.fromkeys(wanted)), emb_col, dim)
    if EMBED_ERROR in source.columns:
        projected = projected.withColumn(
            INVALID_DETAIL, F.coalesce(F.col(EMBED_ERROR), F.col(INVALID_DETAIL))
        ).drop(EMBED_ERROR)
    return projected


def _clip_columns(cfg: PipelineConfig) -> list[str]:
    clip = cfg.clip_filter
    if not clip.enabled:
        return []
    if clip.score_column:
        return [clip.score_column]
    return [clip.image_column, clip.text_column]


def _semdedup_stage(
    spark: SparkSession,
    valid: DataFrame,
    cfg: PipelineConfig,
    dim: int,
    state: RunState,
    stored: DataFrame | None,
) -> tuple[DataFrame, DataFrame | None]:
    if not cfg.semdedup.enabled:
        return valid, None
    from spark_prune.semdedup import semdedup, semdedup_removed

    id_col = cfg.input.id_column
    with state.stage("semdedup"):
        n_valid = valid.count()
        if stored is not None:
            rows = state.persist(valid.select(id_col).join(stored, id_col, "left"))
            state.info["semdedup"] = {"reused_from_previous_run": True, "eps": cfg.semdedup.eps}
        else:
            rows, info = semdedup(
                valid, cfg.semdedup, id_col, cfg.input.embedding_column, dim, n_valid
            )
            state.cached.append(rows)  # semdedup() hands it over persisted
            state.info["semdedup"] = info
        # a cheap column over the cached rows: no second cached copy
        rows = rows.withColumn(
            "semdedup_removed", semdedup_removed(F.col("semdedup_max_sim"), cfg.semdedup.eps)
        )
        removed = rows.filter("semdedup_removed").select(id_col)
        state.counts["semdedup"] = removed.count()
        survivors = valid.join(F.broadcast(removed), id_col, "left_anti")
    return survivors, rows


def _clip_stage(
    survivors: DataFrame, cfg: PipelineConfig, state: RunState
) -> tuple[DataFrame, DataFrame | None]:
    if not cfg.clip_filter.enabled:
        return survivors, None
    id_col = cfg.input.id_column
    with state.stage("clip_filter"):
        scores = state.persist(clip_scores(survivors, cfg.clip_filter, id_col))
        n_scored = scores.filter(F.col("clip_score").isNotNull()).count()
        rows = state.persist(clip_decisions(scores, cfg.clip_filter, id_col, n_scored))
        dropped = rows.filter(F.col("clip_removed").isNull() | F.col("clip_removed"))
        state.counts["clip_score"] = rows.filter(F.col("clip_removed")).count()
        state.counts["clip_score_invalid"] = rows.filter(F.col("clip_removed").isNull()).count()
        survivors = survivors.join(F.broadcast(dropped.select(id_col)), id_col, "left_anti")
    return survivors, rows


def _dbp_stage(
    spark: SparkSession, survivors: DataFrame, cfg: PipelineConfig, dim: int, state: RunState
) -> tuple[DataFrame | None, Any]:
    if not cfg.dbp.enabled:
        return None, None
    id_col, emb_col = cfg.input.id_column, cfg.input.embedding_column
    n_estimate = state.info["rows_read"]  # an upper bound: sizes the sample's hash prefilter
    with state.stage("dbp.fit"):
        km = fit_kmeans(survivors, id_col, emb_col, dim, n_estimate, cfg.dbp.kmeans)
        state.info["dbp_kmeans"] = km.describe()
    with state.stage("dbp.assign"):
        assigned = state.persist(assign_clusters(survivors, km.centroids, id_col, emb_col, dim))
        n_rows = assigned.count()
        target = dbp.target_count(cfg.dbp, n_rows)
        state.info["dbp_rows_in"] = n_rows
        state.info["dbp_target"] = target
    with state.stage("dbp.stats"):
        stats = dbp.cluster_stats(assigned)
        plan = dbp.plan_quotas(stats, km.centroids, cfg.dbp, target)
        empty = km.centroids.shape[0] - len(stats)
        state.info["dbp_empty_clusters"] = int(empty)
    with state.stage("dbp.select"):
        selected = state.persist(dbp.select_rows(spark, assigned, plan, cfg.dbp, id_col))
        clusters = dbp.finish_cluster_table(plan, selected, km.centroids)
    return selected, clusters


def _decisions(
    base: DataFrame,
    id_col: str,
    semdedup_rows: DataFrame | None,
    clip_rows: DataFrame | None,
    selected: DataFrame | None,
    cfg: PipelineConfig,
) -> DataFrame:
    """One row per input row with the contract's columns; reason by the first stage that cut it."""
    id_type = base.schema[id_col].dataType
    rows = base.select(id_col, F.col(INVALID_DETAIL).alias("detail"))
    rows = _join_or_nulls(
        rows,
        semdedup_rows,
        id_col,
        {
            "semdedup_cluster_id": T.IntegerType(),
            "semdedup_dist": T.DoubleType(),
            "semdedup_max_sim": T.DoubleType(),
            "semdedup_partner": id_type,
            "semdedup_removed": T.BooleanType(),
        },
    )
    rows = _join_or_nulls(
        rows, clip_rows, id_col, {"clip_score": T.DoubleType(), "clip_removed": T.BooleanType()}
    )
    rows = _join_or_nulls(
        rows,
        selected,
        id_col,
        {
            "cluster_id": T.IntegerType(),
            "dist": T.DoubleType(),
            "rank_in_cluster": T.IntegerType(),
            "kept": T.BooleanType(),
        },
        rename={"kept": "dbp_kept"},
    )
    reason = (
        F.when(F.col("detail").isNotNull(), F.lit("invalid"))
        .when(F.coalesce(F.col("semdedup_removed"), F.lit(False)), F.lit("semdedup"))
        .when(F.lit(cfg.clip_filter.enabled) & F.col("clip_removed").isNull(), F.lit("invalid"))
        .when(F.coalesce(F.col("clip_removed"), F.lit(False)), F.lit("clip_score"))
        .when(F.lit(cfg.dbp.enabled) & ~F.coalesce(F.col("dbp_kept"), F.lit(False)), F.lit("dbp"))
    )
    detail = F.when(
        F.col("detail").isNull() & (reason == "invalid"), F.lit("clip score is null")
    ).otherwise(F.col("detail"))
    return rows.select(
        id_col,
        "cluster_id",
        "dist",
        "rank_in_cluster",
        "semdedup_cluster_id",
        "semdedup_dist",
        "semdedup_max_sim",
        "semdedup_partner",
        "clip_score",
        reason.isNull().alias("kept"),
        reason.alias("reason"),
        detail.alias("detail"),
    )


def _join_or_nulls(
    rows: DataFrame,
    other: DataFrame | None,
    id_col: str,
    columns: dict[str, T.DataType],
    rename: dict[str, str] | None = None,
) -> DataFrame:
    rename = rename or {}
    if other is None:
        for name, dtype in columns.items():
            rows = rows.withColumn(rename.get(name, name), F.lit(None).cast(dtype))
        return rows
    picked = other.select(id_col, *[F.col(c).alias(rename.get(c, c)) for c in columns])
    return rows.join(picked, id_col, "left")


def _write_outputs(
    spark: SparkSession,
    cfg: PipelineConfig,
    out: OutputLocation,
    source: DataFrame,
    decisions: DataFrame,
    clusters: Any,
    state: RunState,
) -> RunResult:
    id_col = cfg.input.id_column
    meta = {"run_id": state.run_id, "tool": "spark_prune"}
    versions: dict[str, int] = {}
    with state.stage("write.decisions"):
        versions["decisions"] = out.write(decisions, "decisions", {**meta, "table": "decisions"})
        written = out.read(spark, "decisions")
        state.counts.update(manifest.count_reasons(written))
    with state.stage("write.clusters"):
        versions["clusters"] = out.write(
            manifest.clusters_frame(spark, clusters), "clusters", {**meta, "table": "clusters"}
        )
    with state.stage("write.pruned"):
        kept_ids = written.filter("kept").select(id_col)
        pruned = source.join(kept_ids, id_col, "left_semi")
        if state.counts["kept"] <= manifest.BROADCAST_IDS_MAX:
            pruned = source.join(F.broadcast(kept_ids), id_col, "left_semi")
        versions["pruned"] = out.write(
            pruned, "pruned", {**meta, "table": "pruned", "counts": state.counts}
        )
    doc = manifest.build(spark, cfg, out, state, versions)
    if cfg.output.path and remove_file(spark, f"{cfg.output.path.rstrip('/')}/{REPORT_FILE}"):
        log.info("[%s] removed the previous run's %s", state.run_id, REPORT_FILE)
    manifest.write(spark, out.manifest_path, doc)
    log.info("[%s] counts: %s", state.run_id, state.counts)
    return RunResult(state.run_id, out, doc)
