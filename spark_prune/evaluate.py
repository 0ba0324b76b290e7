"""``spark-prune evaluate``: every pruning strategy at every budget, scored by a linear probe.

Rows with a valid embedding and a label are split into train and test by a seeded hash of the
id (partition-independent). DBP's k-means is fitted and rows are assigned on the train part
once, exactly as ``run`` does (same functions, same config); every strategy at every budget
then selects its subset with ``dbp.plan_and_select``, the function ``run`` uses, so a subset
is the one ``run`` would keep from the train part. A multinomial logistic regression on the
embedding (``spark_prune.probe``) is trained on each subset and on the whole train part
(strategy ``full``, budget 1.0) and scored on the test part.
"""

from __future__ import annotations

import logging
import math
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, replace
from typing import Any, cast

import pandas as pd
from pyspark import StorageLevel
from pyspark.sql import Column, DataFrame, SparkSession
from pyspark.sql import functions as F
from pyspark.sql import types as T

from spark_prune import dbp
from spark_prune.assign import assign_clusters
from spark_prune.clustering import fit_kmeans
from spark_prune.config import DBPConfig, PipelineConfig, Strategy
from spark_prune.errors import InfeasibleTargetError, InputError, OutputExistsError
from spark_prune.io import OutputLocation, read_input, with_absolute_paths
from spark_prune.lake import write_text
from spark_prune.lease import acquire, lease_dir
from spark_prune.probe import ProbeConfig, label_indexer, prepare, score_probe, train_probe
from spark_prune.validate import (
    INVALID_DETAIL,
    as_array_embeddings,
    check_columns,
    check_unique_ids,
    infer_dimension,
    with_invalid_detail,
)

log = logging.getLogger(__name__)

TABLE = "evaluation"
FULL = "full"
SPLIT_SCALE = 1_000_000
SCHEMA = T.StructType(
    [
        T.StructField("strategy", T.StringType(), False),
        T.StructField("budget", T.DoubleType(), False),
        T.StructField("rows_kept", T.LongType(), False),
        T.StructField("accuracy", T.DoubleType(), True),
        T.StructField("macro_f1", T.DoubleType(), True),
        T.StructField("seconds", T.DoubleType(), False),
    ]
)


def strategy_config(base: DBPConfig, strategy: str, budget: float) -> DBPConfig:
    """The ``dbp`` section that runs one evaluate strategy at one keep fraction.

    ``dbp_random``: DBP's quotas, random rows inside clusters. ``hierarchical`` samples at
    random inside the leaf clusters, as Vo et al. do. The others keep ``dbp.within_cluster``.
    """
    within = base.within_cluster
    if strategy in ("dbp_random", "hierarchical"):
        within = "random"
    name = cast(Strategy, "dbp" if strategy == "dbp_random" else strategy)
    return replace(
        base, strategy=name, keep_fraction=budget, keep_count=None, within_cluster=within
    )


def is_test(id_col: str, fraction: float, seed: int) -> Column:
    """True for the test part: a seeded hash of the id, the same whatever the partitioning."""
    h = F.xxhash64(F.lit("spark_prune.evaluate"), F.lit(seed), F.col(id_col).cast("string"))
    return F.pmod(h, F.lit(SPLIT_SCALE)) < F.lit(int(round(fraction * SPLIT_SCALE)))


@dataclass
class Split:
    train: DataFrame  # id, embedding, label
    test: DataFrame
    dim: int
    counts: dict[str, int]
    cached: DataFrame  # both parts, persisted: unpersist() when done


def split_rows(spark: SparkSession, cfg: PipelineConfig) -> Split:
    """Valid, labelled rows of the pinned input, split into train and test."""
    id_col, emb_col = cfg.input.id_column, cfg.input.embedding_column
    label = cfg.evaluate.label_column
    source, _ = read_input(spark, cfg.input)
    check_columns(source, id_col, emb_col)
    if label not in source.columns:
        raise InputError(
            f"evaluate.label_column: no column {label!r} in the input; "
            f"columns are: {', '.join(source.columns)}"
        )
    label_type = source.schema[label].dataType
    if not isinstance(label_type, (T.StringType, T.NumericType)):
        raise InputError(
            f"evaluate.label_column {label!r} is {label_type.simpleString()}; the probe's "
            f"labels must be strings or numbers (cast the column first)"
        )
    check_unique_ids(source, id_col)
    source = as_array_embeddings(source, emb_col)  # Spark ML vectors: array<float>
    dim = cfg.input.embedding_dim or infer_dimension(source, emb_col)
    if dim is None:
        raise InputError(f"evaluate: no row of {emb_col!r} holds an embedding (all null or empty)")
    rows = with_invalid_detail(source.select(id_col, emb_col, label), emb_col, dim)
    rows = rows.filter(F.col(INVALID_DETAIL).isNull() & F.col(label).isNotNull())
    rows = rows.drop(INVALID_DETAIL).withColumn(
        "_test", is_test(id_col, cfg.evaluate.test_fraction, cfg.evaluate.seed)
    )
    rows = rows.persist(StorageLevel.MEMORY_AND_DISK)
    train, test = rows.filter(~F.col("_test")).drop("_test"), rows.filter("_test").drop("_test")
    counts = {"input": source.count(), "train": train.count(), "test": test.count()}
    if counts["train"] == 0 or counts["test"] == 0:
        raise InputError(
            f"evaluate: need valid, labelled rows in both the train and the test part, got "
            f"{counts}; check evaluate.label_column and evaluate.test_fraction"
        )
    return Split(train, test, dim, counts, rows)


@dataclass(frozen=True)
class Subset:
    strategy: str
    budget: float
    kept_ids: DataFrame | None  # None: the budget is infeasible for this strategy
    rows_kept: int
    seconds: float


def select_subsets(
    spark: SparkSession, train: DataFrame, cfg: PipelineConfig, dim: int
) -> Iterator[Subset]:
    """Every configured strategy at every budget on ``train``; k-means and the assignment are
    computed once and shared (they do not depend on the strategy or the budget)."""
    id_col, emb_col = cfg.input.id_column, cfg.input.embedding_column
    n_rows = train.count()
    km = fit_kmeans(train, id_col, emb_col, dim, n_rows, cfg.dbp.kmeans)
    assigned = assign_clusters(train, km.centroids, id_col, emb_col, dim)
    assigned = assigned.persist(StorageLevel.MEMORY_AND_DISK)
    try:
        stats = dbp.cluster_stats(assigned)
        for strategy in cfg.evaluate.strategies:
            for budget in cfg.evaluate.budgets:
                dbp_cfg = strategy_config(cfg.dbp, strategy, budget)
                start = time.perf_counter()
                try:
                    _, selected = dbp.plan_and_select(
                        spark, assigned, stats, km.centroids, dbp_cfg, id_col, n_rows
                    )
                except InfeasibleTargetError as exc:
                    log.warning("evaluate: %s at %.2f is infeasible: %s", strategy, budget, exc)
                    yield Subset(strategy, budget, None, 0, 0.0)
                    continue
                kept = selected.filter("kept").select(id_col).persist(StorageLevel.MEMORY_AND_DISK)
                try:
                    n_kept = kept.count()
                    yield Subset(strategy, budget, kept, n_kept, time.perf_counter() - start)
                finally:  # also when the consumer fails or stops early
                    kept.unpersist()
    finally:
        assigned.unpersist()


def evaluate(spark: SparkSession, cfg: PipelineConfig) -> pd.DataFrame:
    """Run the evaluation, write ``<output>/evaluation`` (Delta) and ``evaluation.html``, and
    return the table (one row per strategy and budget, ``full`` first)."""
    cfg = with_absolute_paths(cfg)
    cfg.evaluate.require_label("evaluate")
    out = OutputLocation(cfg.output)
    _check_writable(spark, out, cfg)
    if cfg.semdedup.enabled or cfg.clip_filter.enabled or cfg.embed.enabled:
        log.warning(
            "evaluate compares DBP-stage strategies only: embed, SemDeDup and the CLIP "
            "filter are not run (point input at their output to include them)"
        )
    run_id = f"evaluate-{uuid.uuid4().hex[:12]}"
    with acquire(spark, lease_dir(cfg.output.path, cfg.output.manifest_path), run_id):
        split = split_rows(spark, cfg)
        log.info("evaluate: %s", split.counts)
        try:
            rows = _score_all(spark, cfg, split)
        finally:
            split.cached.unpersist()
        table = pd.DataFrame(rows, columns=SCHEMA.fieldNames())
        meta = {"tool": "spark_prune", "table": TABLE, "rows": split.counts,
                "seed": cfg.evaluate.seed}  # fmt: skip
        out.write(spark.createDataFrame(table, SCHEMA).coalesce(1), TABLE, meta)
        _write_figure(spark, out, table)
    return table


def _score_all(spark: SparkSession, cfg: PipelineConfig, split: Split) -> list[tuple[Any, ...]]:
    """The probe on the whole train part, then on every strategy's subset at every budget."""
    id_col, ev = cfg.input.id_column, cfg.evaluate
    probe_cfg = ProbeConfig(ev.max_iter, ev.reg_param, ev.partitions)
    indexer = label_indexer(split.train, ev.label_column)
    train = prepare(split.train, indexer, cfg.input.embedding_column)
    test = prepare(split.test, indexer, cfg.input.embedding_column).persist()
    try:
        rows = [_scored(FULL, 1.0, train, split.counts["train"], 0.0, test, id_col, probe_cfg)]
        for subset in select_subsets(spark, split.train, cfg, split.dim):
            if subset.kept_ids is None:
                rows.append((subset.strategy, subset.budget, 0, None, None, 0.0))
                continue
            kept = train.join(subset.kept_ids, id_col, "left_semi")
            scored = _scored(
                subset.strategy,
                subset.budget,
                kept,
                subset.rows_kept,
                subset.seconds,
                test,
                id_col,
                probe_cfg,
            )
            rows.append(scored)
        return rows
    finally:
        test.unpersist()


def _scored(
    strategy: str,
    budget: float,
    train: DataFrame,
    rows_kept: int,
    seconds: float,
    test: DataFrame,
    id_col: str,
    probe_cfg: ProbeConfig,
) -> tuple[Any, ...]:
    model = train_probe(train, id_col, probe_cfg)
    accuracy, macro_f1 = score_probe(model, test)
    log.info("evaluate: %s at %.2f: %d rows, accuracy %.4f", strategy, budget, rows_kept, accuracy)
    return (strategy, float(budget), int(rows_kept), accuracy, macro_f1, round(seconds, 3))


def _check_writable(spark: SparkSession, out: OutputLocation, cfg: PipelineConfig) -> None:
    if out.table(TABLE).exists(spark) and cfg.output.mode == "error":
        raise OutputExistsError(
            f"output {out.table_ref(TABLE)!r} already exists; set output.mode=overwrite or "
            "choose another output.path"
        )


def _write_figure(spark: SparkSession, out: OutputLocation, table: pd.DataFrame) -> None:
    if out.cfg.path:
        write_text(spark, f"{out.cfg.path.rstrip('/')}/evaluation.html", evaluation_page(table))


def evaluation_page(table: pd.DataFrame) -> str:
    """A standalone HTML page: the report's evaluation section alone."""
    from spark_prune.report.evaluation import evaluation_html
    from spark_prune.report.html import CSS

    return (
        "<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'>"
        f"<title>spark_prune evaluation</title><style>{CSS}</style></head><body>"
        f"<h1>spark_prune evaluation</h1>{evaluation_html(table)}</body></html>\n"
    )


def format_table(table: pd.DataFrame) -> str:
    """The evaluation as aligned text, one line per strategy and budget."""
    header = f"{'strategy':<13}{'budget':>7}{'rows':>9}{'accuracy':>11}{'macro_f1':>10}{'sec':>8}"
    lines = [header, "-" * len(header)]
    for r in table.itertuples(index=False):
        acc = "infeasible" if r.accuracy is None or math.isnan(r.accuracy) else f"{r.accuracy:.4f}"
        f1 = "" if r.macro_f1 is None or math.isnan(r.macro_f1) else f"{r.macro_f1:.4f}"
        lines.append(
            f"{r.strategy:<13}{r.budget:>7.2f}{r.rows_kept:>9,}{acc:>11}{f1:>10}{r.seconds:>8.1f}"
        )
    return "\n".join(lines)
