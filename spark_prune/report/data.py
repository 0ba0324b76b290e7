"""The report's data: the run's tables, and Spark aggregations down to small pandas frames.

Everything heavy runs on Spark (``groupBy``, a window for the thumbnail picks, image
downscaling inside ``mapInPandas``); the driver only collects per-cluster rows, histogram bins
and at most a few dozen 64-pixel thumbnails.
"""

from __future__ import annotations

import base64
import importlib.util
import logging
import math
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

import pandas as pd
from pyspark.sql import DataFrame, Row, SparkSession, Window
from pyspark.sql import functions as F
from pyspark.sql import types as T

from spark_prune import contract
from spark_prune.config import InputConfig
from spark_prune.decisions import count_reasons
from spark_prune.images import THUMB_PX, thumbnail_png
from spark_prune.io import read_input
from spark_prune.runs import open_run

log = logging.getLogger(__name__)

STAGES = ("input", *contract.REASONS, "kept")
THUMBS_PER_SIDE = 8
SEMDEDUP_PAIRS = 8
HIST_BINS = 60
CLUSTER_COLUMNS = tuple(  # the clusters table without its vectors and solver internals
    c for c in contract.CLUSTER_COLUMNS if c not in ("centroid", "quota_continuous", "lower_bound")
)
THUMB_SCHEMA = T.StructType(
    [T.StructField("id", T.StringType()), T.StructField("thumb", T.BinaryType())]
)


@dataclass
class RunTables:
    """What the report reads of a run: its manifest, ``decisions`` and ``clusters``."""

    run_path: str
    manifest: dict[str, Any]
    decisions: DataFrame
    clusters: DataFrame
    id_column: str = "id"


# ---------------------------------------------------------------- loading


def load_run(spark: SparkSession, run_location: str) -> RunTables:
    """The run at ``run_location`` (see :func:`spark_prune.runs.open_run`): its manifest and
    its ``decisions`` and ``clusters`` tables at the Delta versions the manifest recorded, so
    the page matches the run even if the location was written again later."""
    run = open_run(spark, run_location)
    return RunTables(
        run_path=run.location,
        manifest=run.manifest,
        decisions=run.table(contract.DECISIONS),
        clusters=run.table(contract.CLUSTERS),
        id_column=run.id_column,
    )


def input_table(spark: SparkSession, doc: dict[str, Any]) -> DataFrame | None:
    """The run's input at the Delta version it read, or None when it cannot be read."""
    info = doc.get("input") or {}
    path = info.get("path")
    if not path:
        return None
    where = InputConfig(
        path=path, format=info.get("format", "delta"), version=info.get("delta_version")
    )
    try:
        return read_input(spark, where)[0]
    except Exception as exc:  # moved, vacuumed or no access: the report goes on without it
        log.warning("input %s not readable for thumbnails: %s", path, str(exc).splitlines()[0])
        return None


# ---------------------------------------------------------------- counts, clusters, eps


def stage_counts(tables: RunTables) -> dict[str, Any]:
    """Rows per stage from the manifest (recomputed from ``decisions`` when missing)."""
    counts = dict(tables.manifest.get("counts") or {})
    return counts or count_reasons(tables.decisions)


def to_pandas(df: DataFrame) -> pd.DataFrame:
    """Collect a small (aggregated) DataFrame to pandas."""
    return pd.DataFrame(df.toPandas())


def cluster_frame(tables: RunTables) -> pd.DataFrame:
    """The clusters table without centroids (k rows), with ``kept_fraction``."""
    present = [c for c in CLUSTER_COLUMNS if c in tables.clusters.columns]
    frame = to_pandas(tables.clusters.select(*present).orderBy(contract.CLUSTER_ID))
    if not frame.empty:
        frame["kept_fraction"] = frame[contract.KEPT] / frame["size"].clip(lower=1)
    return frame


def semdedup_eps(doc: dict[str, Any]) -> float | None:
    """The eps the run applied: the manifest's semdedup info, else the resolved config."""
    info = doc.get("semdedup") or {}
    if info.get("eps") is not None:
        return float(info["eps"])
    cfg = (doc.get("config") or {}).get("semdedup") or {}
    return float(cfg["eps"]) if cfg.get("eps") is not None else None


# ---------------------------------------------------------------- similarity histogram


@dataclass(frozen=True)
class Histogram:
    """Histogram bins (``lo``, ``hi``, ``count``) and the exact number of values above ``cut``."""

    bins: pd.DataFrame
    above: int | None = None


def similarity_histogram(
    decisions: DataFrame, bins: int = HIST_BINS, cut: float | None = None
) -> Histogram:
    """Bins of ``semdedup_max_sim`` computed with a Spark ``groupBy``; ``cut`` is a bin edge."""
    empty = Histogram(pd.DataFrame(columns=["lo", "hi", "count"]))
    if contract.SEMDEDUP_MAX_SIM not in decisions.columns:
        return empty
    sims = decisions.select(F.col(contract.SEMDEDUP_MAX_SIM).alias("s")).filter(
        F.col("s").isNotNull()
    )
    above = F.sum((F.col("s") > F.lit(cut if cut is not None else float("inf"))).cast("long"))
    row = sims.agg(F.min("s").alias("lo"), F.max("s").alias("hi"), above.alias("n")).first()
    if row is None or row["lo"] is None:
        return empty
    lo, hi = float(row["lo"]), float(row["hi"])
    width = (hi - lo) / bins if hi > lo else 1.0
    if cut is not None and lo < cut < hi:  # align the edges so the cut falls between bins
        lo = cut - math.ceil((cut - lo) / width) * width
    last = max(math.ceil((hi - lo) / width) - 1, 0)
    index = F.least(F.floor((F.col("s") - F.lit(lo)) / F.lit(width)).cast("int"), F.lit(last))
    counts = to_pandas(sims.groupBy(index.alias("b")).count().orderBy("b"))
    counts["lo"] = lo + counts["b"] * width
    counts["hi"] = counts["lo"] + width
    return Histogram(counts[["lo", "hi", "count"]], int(row["n"]) if cut is not None else None)


# ---------------------------------------------------------------- thumbnails


@dataclass(frozen=True)
class Gallery:
    """Picked rows (``id``, ``cluster_id``, ``kept``, ``reason``, ``rank_in_cluster``, ...)
    and str(id) -> base64 PNG thumbnail for them."""

    rows: list[Row] = field(default_factory=list)
    thumbs: dict[str, str] = field(default_factory=dict)


def thumbnail_images(
    spark: SparkSession, tables: RunTables, column: str
) -> tuple[DataFrame | None, str | None]:
    """(the input's ``id`` and ``image`` columns, None), or (None, why there are no thumbnails).

    The reason is a sentence template: ``{column}`` stands for the image column's name.
    """
    source = input_table(spark, tables.manifest)
    if importlib.util.find_spec("PIL") is None:
        return None, "Pillow is not installed (pip install pillow)"
    if source is None:
        return None, "the input table named in the manifest cannot be read"
    if column not in source.columns:
        return None, "the input has no column {column}"
    if not isinstance(source.schema[column].dataType, T.BinaryType):
        return None, "{column} is not a binary (image bytes) column"
    images = source.select(F.col(tables.id_column).alias("id"), F.col(column).alias("image"))
    return images, None


def largest_clusters(clusters: DataFrame, limit: int) -> list[int]:
    """The ids of the ``limit`` largest clusters, largest first (ties by id)."""
    if limit <= 0:
        return []
    top = (
        clusters.select(contract.CLUSTER_ID, "size")
        .orderBy(F.desc("size"), contract.CLUSTER_ID)
        .limit(limit)
    )
    return [int(r[contract.CLUSTER_ID]) for r in top.collect()]


def pick_thumbnail_rows(
    decisions: DataFrame, id_column: str, cluster_ids: Sequence[int]
) -> DataFrame:
    """Up to ``THUMBS_PER_SIDE`` kept and removed rows per shown cluster, by rank_in_cluster."""
    side = Window.partitionBy(contract.CLUSTER_ID, contract.KEPT).orderBy(
        contract.RANK_IN_CLUSTER, id_column
    )
    return (
        decisions.filter(F.col(contract.CLUSTER_ID).isin(list(cluster_ids)))
        .select(
            F.col(id_column).alias("id"),
            contract.CLUSTER_ID,
            contract.KEPT,
            contract.REASON,
            contract.RANK_IN_CLUSTER,
            contract.DIST,
        )
        .withColumn("n", F.row_number().over(side))
        .filter(F.col("n") <= THUMBS_PER_SIDE)
        .drop("n")
    )


def galleries(
    tables: RunTables, images: DataFrame, cluster_ids: Sequence[int]
) -> tuple[Gallery, Gallery]:
    """The picked rows of ``cluster_ids`` and the SemDeDup pairs nearest the threshold, with
    their thumbnails, fetched in one pass over the image column."""
    rows = cluster_gallery_rows(tables, cluster_ids) if cluster_ids else []
    pairs = semdedup_pair_rows(tables)
    ids = [r["id"] for r in rows] + [r["id"] for r in pairs] + [r["partner"] for r in pairs]
    thumbs = thumbnails_for(images, ids)
    return Gallery(rows, thumbs), Gallery(pairs, thumbs)


def cluster_gallery_rows(tables: RunTables, cluster_ids: Sequence[int]) -> list[Row]:
    """The picked rows of ``cluster_ids`` (``pick_thumbnail_rows``)."""
    return pick_thumbnail_rows(tables.decisions, tables.id_column, cluster_ids).collect()


def semdedup_pair_rows(tables: RunTables) -> list[Row]:
    """SemDeDup removals nearest the threshold (``id``, ``partner``, ``semdedup_max_sim``);
    none when SemDeDup did not record partners."""
    decisions = tables.decisions
    if contract.SEMDEDUP_PARTNER not in decisions.columns:
        return []
    return (
        decisions.filter(F.col(contract.REASON) == contract.SEMDEDUP)
        .select(
            F.col(tables.id_column).alias("id"),
            F.col(contract.SEMDEDUP_PARTNER).alias("partner"),
            contract.SEMDEDUP_MAX_SIM,
        )
        .orderBy(contract.SEMDEDUP_MAX_SIM, "id")
        .limit(SEMDEDUP_PAIRS)
        .collect()
    )


def thumbnails_for(images: DataFrame, ids: Sequence[Any]) -> dict[str, str]:
    """str(id) -> base64 PNG thumbnail for a few ids of ``images`` (columns ``id``, ``image``).

    The ids are a literal ``isin`` filter, so Delta/Parquet can skip files and row groups, and
    images are downscaled on the executors: only the small thumbnails reach the driver.
    """
    wanted = sorted({i for i in ids if i is not None}, key=str)
    if not wanted:
        return {}
    size = THUMB_PX

    def shrink(batches: Iterable[pd.DataFrame]) -> Iterator[pd.DataFrame]:
        for batch in batches:
            thumbs = [thumbnail_png(b, size)[0] for b in batch["image"]]
            yield pd.DataFrame({"id": batch["id"].astype(str), "thumb": thumbs})

    picked = images.filter(F.col("id").isin(wanted))
    rows = picked.mapInPandas(shrink, THUMB_SCHEMA).collect()
    return {
        r["id"]: base64.b64encode(bytes(r["thumb"])).decode("ascii")
        for r in rows
        if r["thumb"] is not None
    }
