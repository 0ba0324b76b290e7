"""A self-contained HTML report of one run: charts, tables and thumbnails in a single file.

Everything heavy is aggregated on Spark (``groupBy``, a window for the thumbnail picks, image
downscaling inside ``mapInPandas``); the driver only collects per-cluster rows, histogram bins
and at most a few dozen 64-pixel thumbnails. Figures are matplotlib PNGs embedded as base64
``data:`` URIs, so the page has no external assets and can be mailed or attached to a ticket.

    spark-prune report --run /lake/runs/r1 --out r1.html
"""

from __future__ import annotations

import base64
import html
import importlib.util
import io
import json
import logging
import math
import warnings
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any, Literal

import pandas as pd
from pyspark.sql import DataFrame, SparkSession, Window
from pyspark.sql import functions as F
from pyspark.sql import types as T

from spark_prune.config import InputConfig
from spark_prune.decisions import count_reasons
from spark_prune.io import read_input
from spark_prune.lake import write_text

log = logging.getLogger(__name__)

STAGES = ("input", "invalid", "semdedup", "clip_score", "dbp", "kept")
THUMB_PX = 64
THUMBS_PER_SIDE = 8
PRE_REDUCE = 8  # huge images: nearest-neighbour to 8x the thumbnail size first
MAX_SOURCE_PIXELS = 40_000_000  # larger images get a placeholder (decoding one takes seconds)
SEMDEDUP_PAIRS = 8
HIST_BINS = 60
CLUSTER_COLUMNS = (
    "cluster_id",
    "size",
    "d_intra",
    "d_inter",
    "complexity",
    "p",
    "quota",
    "kept",
    "capped",
    "at_lower_bound",
)
THUMB_SCHEMA = T.StructType(
    [T.StructField("id", T.StringType()), T.StructField("thumb", T.BinaryType())]
)


@dataclass
class RunTables:
    """A run's manifest and Delta tables, as found under its output path."""

    run_path: str
    manifest: dict[str, Any]
    decisions: DataFrame
    clusters: DataFrame
    id_column: str = "id"


@dataclass
class Section:
    """One titled part of the page; ``body`` is trusted HTML built by this module."""

    anchor: str
    title: str
    body: str


def write_report(
    spark: SparkSession,
    run_path: str,
    out_html: str,
    *,
    thumbnails_column: str | None = "image",
    max_clusters_shown: int = 6,
) -> str:
    """Write the run's HTML report to ``out_html`` and return that path.

    Sections: counts per stage, cluster sizes, complexity vs quota, kept fraction per cluster,
    capped clusters, the SemDeDup similarity histogram with ``1 - eps`` marked, thumbnails of
    kept and removed rows for the ``max_clusters_shown`` largest clusters (only when the input
    table has a binary ``thumbnails_column``), and the manifest. A stage that did not run is
    reported as such instead of failing.
    """
    tables = load_run(spark, run_path)
    sections = [
        counts_section(tables),
        *cluster_sections(tables),
        semdedup_section(tables),
        thumbnails_section(spark, tables, thumbnails_column, max_clusters_shown),
        manifest_section(tables.manifest),
    ]
    page = render_page(tables.manifest, sections)
    write_text(spark, out_html, page)
    log.info("report written to %s (%d KB)", out_html, len(page) // 1024)
    return out_html


# ---------------------------------------------------------------- loading


def load_run(spark: SparkSession, run_path: str) -> RunTables:
    """The run at ``run_path`` (``runs.open_run``) and its ``decisions`` and ``clusters`` tables,
    at the Delta versions its manifest recorded, so the page matches the run even if the
    location was written again later."""
    from spark_prune.runs import open_run

    opened = open_run(spark, run_path)
    return RunTables(
        run_path=opened.location,
        manifest=opened.manifest,
        decisions=opened.table("decisions"),
        clusters=opened.table("clusters"),
        id_column=opened.id_column,
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


# ---------------------------------------------------------------- sections


def counts_section(tables: RunTables) -> Section:
    """Rows per stage from the manifest (recomputed from ``decisions`` when missing)."""
    counts = dict(tables.manifest.get("counts") or {})
    if not counts:
        counts = count_reasons(tables.decisions)
    total = max(int(counts.get("input", 0)), 1)
    ordered = [s for s in STAGES if s in counts] + sorted(set(counts) - set(STAGES))
    rows = [
        (_stage_label(s), f"{int(counts[s]):,}", f"{100.0 * int(counts[s]) / total:.1f}%")
        for s in ordered
    ]
    body = html_table(("stage", "rows", "of input"), rows, numeric=(1, 2))
    return Section("counts", "Counts per stage", body + _counts_figure(counts, total))


def _stage_label(stage: str) -> str:
    if stage in ("input", "kept"):
        return "input rows" if stage == "input" else "kept"
    if stage in STAGES:
        return f"removed by {stage}"
    return f"{stage} (breakdown, counted above)"  # e.g. clip_score_invalid within invalid


def _counts_figure(counts: dict[str, Any], total: int) -> str:
    stages = [s for s in STAGES[1:] if int(counts.get(s, 0)) > 0]
    if not stages:
        return ""
    fig = new_figure(7.5, 1.6, layout=None)
    fig.subplots_adjust(left=0.02, right=0.98, top=0.62, bottom=0.32)
    ax = fig.add_subplot()
    left = 0.0
    colors = {
        "invalid": "#999999",
        "semdedup": "#d62728",
        "clip_score": "#ff7f0e",
        "dbp": "#9467bd",
        "kept": "#2ca02c",
    }
    for stage in stages:
        width = 100.0 * int(counts[stage]) / total
        ax.barh([0], [width], left=left, color=colors.get(stage, "#1f77b4"), label=stage)
        left += width
    ax.set_xlim(0, 100)
    ax.set_yticks([])
    ax.set_xlabel("% of input rows")
    ax.legend(ncol=len(stages), loc="lower center", bbox_to_anchor=(0.5, 1.0), frameon=False)
    return figure_html(fig, "share of input rows removed by each stage and kept")


def to_pandas(df: DataFrame) -> pd.DataFrame:
    """Collect a small (aggregated) DataFrame to pandas."""
    return pd.DataFrame(df.toPandas())


def cluster_frame(tables: RunTables) -> pd.DataFrame:
    """The clusters table without centroids (k rows), with ``kept_fraction``."""
    present = [c for c in CLUSTER_COLUMNS if c in tables.clusters.columns]
    frame = to_pandas(tables.clusters.select(*present).orderBy("cluster_id"))
    if not frame.empty:
        frame["kept_fraction"] = frame["kept"] / frame["size"].clip(lower=1)
    return frame


def cluster_sections(tables: RunTables) -> list[Section]:
    """Cluster sizes, complexity vs quota, kept fraction, and the capped clusters."""
    frame = cluster_frame(tables)
    if frame.empty:
        note = "<p class='note'>DBP did not run: the <code>clusters</code> table is empty.</p>"
        return [Section("clusters", "DBP clusters", note)]
    return [
        Section("sizes", "Cluster sizes", _sizes_figure(frame) + _cluster_summary(frame)),
        Section("complexity", "Complexity vs quota", _complexity_figure(frame)),
        Section("kept-fraction", "Kept fraction per cluster", _kept_fraction_figure(frame)),
        Section("capped", "Quota solver: capped clusters", _capped_table(frame)),
    ]


def _cluster_summary(frame: pd.DataFrame) -> str:
    sizes = frame["size"]
    return (
        f"<p>{len(frame):,} non-empty clusters; sizes {int(sizes.min()):,} to "
        f"{int(sizes.max()):,} (median {float(sizes.median()):,.0f}); "
        f"{int(frame['kept'].sum()):,} of {int(sizes.sum()):,} rows entering DBP kept.</p>"
    )


def _sizes_figure(frame: pd.DataFrame) -> str:
    ordered = frame.sort_values(["size", "cluster_id"], ascending=[False, True])
    x = range(len(ordered))
    fig = new_figure(9, 3.2)
    ax = fig.add_subplot()
    ax.bar(x, ordered["size"], width=1.0, color="#c7c7c7", label="removed by DBP")
    ax.bar(x, ordered["kept"], width=1.0, color="#2ca02c", label="kept")
    ax.set_xlabel("clusters, largest first")
    ax.set_ylabel("rows")
    _label_clusters(ax, ordered["cluster_id"].tolist())
    ax.legend(frameon=False)
    return figure_html(fig, "rows per cluster, kept part in green")


def _label_clusters(ax: Any, cluster_ids: Sequence[int], max_labels: int = 40) -> None:
    if len(cluster_ids) <= max_labels:
        ax.set_xticks(range(len(cluster_ids)))
        ax.set_xticklabels([str(c) for c in cluster_ids], fontsize=7, rotation=90)
    else:
        ax.set_xticks([])
    ax.set_xlim(-0.5, len(cluster_ids) - 0.5)


def _bound_groups(frame: pd.DataFrame) -> list[tuple[str, pd.DataFrame, str]]:
    capped = frame["capped"].astype(bool) if "capped" in frame else False
    lower = frame["at_lower_bound"].astype(bool) if "at_lower_bound" in frame else False
    inner = ~(capped | lower)
    return [
        ("between bounds", frame[inner], "#1f77b4"),
        ("capped (quota = size)", frame[capped], "#d62728"),
        ("at lower bound", frame[lower & ~capped], "#ff7f0e"),
    ]


def _complexity_figure(frame: pd.DataFrame) -> str:
    fig = new_figure(9, 3.6)
    left, right = fig.subplots(1, 2)
    for label, part, color in _bound_groups(frame):
        if part.empty:
            continue
        left.scatter(part["complexity"], part["quota"], s=18, color=color, label=label)
        right.scatter(part["complexity"], part["kept_fraction"], s=18, color=color, label=label)
    left.set_xlabel("complexity C = d_inter · d_intra")
    left.set_ylabel("quota (rows kept)")
    left.legend(frameon=False, fontsize=8)
    right.set_xlabel("complexity C")
    right.set_ylabel("quota / size")
    right.set_ylim(-0.03, 1.03)
    return figure_html(fig, "per-cluster quota against complexity; colour = which bound binds")


def _kept_fraction_figure(frame: pd.DataFrame) -> str:
    ordered = frame.sort_values(["complexity", "cluster_id"], ascending=[False, True])
    fig = new_figure(9, 3.0)
    ax = fig.add_subplot()
    colors = ["#d62728" if c else "#2ca02c" for c in ordered["capped"].astype(bool)]
    ax.bar(range(len(ordered)), ordered["kept_fraction"], width=1.0, color=colors)
    overall = float(frame["kept"].sum()) / max(float(frame["size"].sum()), 1.0)
    ax.axhline(overall, color="black", linewidth=1, linestyle="--")
    ax.set_ylim(0, 1.05)
    ax.set_ylabel("kept / size")
    ax.set_xlabel(f"clusters, most complex first (red = capped; dashed = overall {overall:.0%})")
    _label_clusters(ax, ordered["cluster_id"].tolist())
    return figure_html(fig, "kept fraction per cluster")


def _capped_table(frame: pd.DataFrame) -> str:
    capped = frame[frame["capped"].astype(bool)].sort_values("complexity", ascending=False)
    n_lower = int(frame["at_lower_bound"].astype(bool).sum())
    intro = (
        f"<p>{len(capped):,} of {len(frame):,} clusters hit their upper bound M<sub>j</sub> "
        f"(quota = size, every row kept); {n_lower:,} sit at their lower bound. The overflow of "
        f"capped clusters is taken evenly from the others.</p>"
    )
    if capped.empty:
        return intro
    columns = ("cluster_id", "size", "complexity", "p", "quota", "kept")
    rows = [
        (
            str(int(r.cluster_id)),
            f"{int(r.size):,}",
            f"{r.complexity:.4g}",
            f"{r.p:.4g}",
            f"{int(r.quota):,}",
            f"{int(r.kept):,}",
        )
        for r in capped.itertuples(index=False)
    ]
    return intro + html_table(columns, rows, numeric=(0, 1, 2, 3, 4, 5))


def semdedup_eps(doc: dict[str, Any]) -> float | None:
    """The eps the run applied: the manifest's semdedup info, else the resolved config."""
    info = doc.get("semdedup") or {}
    if info.get("eps") is not None:
        return float(info["eps"])
    cfg = (doc.get("config") or {}).get("semdedup") or {}
    return float(cfg["eps"]) if cfg.get("eps") is not None else None


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
    if "semdedup_max_sim" not in decisions.columns:
        return empty
    sims = decisions.select(F.col("semdedup_max_sim").alias("s")).filter(F.col("s").isNotNull())
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


def semdedup_section(tables: RunTables) -> Section:
    """Histogram of each row's max similarity to an earlier row, with the 1 - eps cut."""
    eps = semdedup_eps(tables.manifest)
    cut = None if eps is None else 1.0 - eps
    hist = similarity_histogram(tables.decisions, cut=cut)
    if hist.bins.empty:
        note = (
            "<p class='note'>SemDeDup did not run: <code>semdedup_max_sim</code> is null for "
            "every row.</p>"
        )
        return Section("semdedup", "SemDeDup similarities", note)
    fig = new_figure(9, 3.2)
    ax = fig.add_subplot()
    bins = hist.bins
    ax.bar(
        bins["lo"],
        bins["count"],
        width=bins["hi"] - bins["lo"],
        align="edge",
        color="#1f77b4",
        edgecolor="white",
        linewidth=0.3,
    )
    text = "<p>Each row's maximum cosine similarity to an earlier row of its SemDeDup cluster."
    if cut is not None:
        ax.axvline(cut, color="#d62728", linewidth=1.5, label=f"1 − eps = {cut:.3f}")
        ax.legend(frameon=False, loc="upper left")
        text += (
            f" Rows right of the red line, 1 − eps = {cut:.3f} (eps = {eps:g}), are removed:"
            f" {hist.above:,} rows."
        )
    ax.set_yscale("log")
    ax.set_xlabel("max similarity to an earlier row (semdedup_max_sim)")
    ax.set_ylabel("rows (log)")
    body = text + "</p>" + figure_html(fig, "SemDeDup max-similarity histogram")
    return Section("semdedup", "SemDeDup similarities", body)


# ---------------------------------------------------------------- thumbnails


def thumbnails_section(
    spark: SparkSession, tables: RunTables, column: str | None, max_clusters: int
) -> Section:
    """Kept vs removed thumbnails for the largest clusters, and SemDeDup pairs."""
    title = "Thumbnails: kept vs removed"
    if column is None:
        return Section("thumbnails", title, "<p class='note'>Thumbnails switched off.</p>")
    source = input_table(spark, tables.manifest)
    reason = _thumbnail_problem(source, column)
    if reason is not None or source is None:
        return Section("thumbnails", title, f"<p class='note'>No thumbnails: {reason}.</p>")
    images = source.select(F.col(tables.id_column).alias("id"), F.col(column).alias("image"))
    parts = [
        _cluster_gallery(tables, images, max_clusters),
        _semdedup_gallery(tables, images),
    ]
    return Section("thumbnails", title, "".join(parts))


def _thumbnail_problem(source: DataFrame | None, column: str) -> str | None:
    if importlib.util.find_spec("PIL") is None:
        return "Pillow is not installed (pip install pillow)"
    if source is None:
        return "the input table named in the manifest cannot be read"
    if column not in source.columns:
        return f"the input has no column <code>{html.escape(column)}</code>"
    if not isinstance(source.schema[column].dataType, T.BinaryType):
        return f"<code>{html.escape(column)}</code> is not a binary (image bytes) column"
    return None


def _cluster_gallery(tables: RunTables, images: DataFrame, max_clusters: int) -> str:
    shown = _largest_clusters(tables.clusters, max_clusters)
    if not shown:
        return "<p class='note'>No DBP clusters to show.</p>"
    rows = pick_thumbnail_rows(tables.decisions, tables.id_column, shown).collect()
    thumbs = thumbnails_for(images, [r["id"] for r in rows])
    blocks = []
    for cluster_id in shown:
        mine = [r for r in rows if r["cluster_id"] == cluster_id]
        kept = [r for r in mine if r["kept"]]
        removed = [r for r in mine if not r["kept"]]
        blocks.append(
            f"<div class='cluster'><h3>cluster {cluster_id}</h3>"
            f"<div class='side'><h4>kept (farthest from centroid first)</h4>"
            f"{_strip(kept, thumbs)}</div>"
            f"<div class='side'><h4>removed</h4>{_strip(removed, thumbs)}</div></div>"
        )
    intro = (
        f"<p>The {len(shown)} largest clusters; up to {THUMBS_PER_SIDE} rows per side in "
        f"<code>rank_in_cluster</code> order (0 = farthest from the centroid).</p>"
    )
    return intro + "".join(blocks)


def _largest_clusters(clusters: DataFrame, limit: int) -> list[int]:
    if limit <= 0:
        return []
    top = clusters.select("cluster_id", "size").orderBy(F.desc("size"), "cluster_id").limit(limit)
    return [int(r["cluster_id"]) for r in top.collect()]


def pick_thumbnail_rows(
    decisions: DataFrame, id_column: str, cluster_ids: Sequence[int]
) -> DataFrame:
    """Up to ``THUMBS_PER_SIDE`` kept and removed rows per shown cluster, by rank_in_cluster."""
    side = Window.partitionBy("cluster_id", "kept").orderBy("rank_in_cluster", id_column)
    return (
        decisions.filter(F.col("cluster_id").isin(list(cluster_ids)))
        .select(
            F.col(id_column).alias("id"),
            "cluster_id",
            "kept",
            "reason",
            "rank_in_cluster",
            "dist",
        )
        .withColumn("n", F.row_number().over(side))
        .filter(F.col("n") <= THUMBS_PER_SIDE)
        .drop("n")
    )


def _semdedup_gallery(tables: RunTables, images: DataFrame) -> str:
    decisions = tables.decisions
    if "semdedup_partner" not in decisions.columns:
        return ""
    pairs = (
        decisions.filter(F.col("reason") == "semdedup")
        .select(
            F.col(tables.id_column).alias("id"),
            F.col("semdedup_partner").alias("partner"),
            "semdedup_max_sim",
        )
        .orderBy("semdedup_max_sim", "id")
        .limit(SEMDEDUP_PAIRS)
        .collect()
    )
    if not pairs:
        return ""
    thumbs = thumbnails_for(images, [r["id"] for r in pairs] + [r["partner"] for r in pairs])
    cells = "".join(_pair_cell(r["id"], r["partner"], r["semdedup_max_sim"], thumbs) for r in pairs)
    return (
        "<h3>SemDeDup: removed rows nearest the threshold, beside their partner</h3>"
        f"<div class='pairs'>{cells}</div>"
    )


def _pair_cell(removed: Any, partner: Any, sim: float, thumbs: dict[str, str]) -> str:
    return (
        "<div class='pair'>"
        f"{_img(thumbs.get(str(partner)), f'kept earlier: {partner}')}"
        f"{_img(thumbs.get(str(removed)), f'removed: {removed}')}"
        f"<div class='cap'>sim {sim:.4f}</div></div>"
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
            thumbs = [make_thumbnail(b, size) for b in batch["image"]]
            yield pd.DataFrame({"id": batch["id"].astype(str), "thumb": thumbs})

    picked = images.filter(F.col("id").isin(wanted))
    rows = picked.mapInPandas(shrink, THUMB_SCHEMA).collect()
    return {
        r["id"]: base64.b64encode(bytes(r["thumb"])).decode("ascii")
        for r in rows
        if r["thumb"] is not None
    }


def make_thumbnail(data: bytes | None, size: int = THUMB_PX) -> bytes | None:
    """A PNG at most ``size`` pixels on its longer side, transparency flattened on white.

    Large sources are first reduced with a cheap nearest-neighbour step in their own mode, so
    a palette image is never expanded to RGBA at full size; sources above
    ``MAX_SOURCE_PIXELS`` (clip art reaches 16,000 px) get None, like corrupt ones.
    """
    if data is None:
        return None
    from PIL import Image  # the report extra; imported on the executor

    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            with Image.open(io.BytesIO(bytes(data))) as image:
                if image.width * image.height > MAX_SOURCE_PIXELS:
                    return None
                if max(image.size) > PRE_REDUCE * size:
                    image.thumbnail(
                        (PRE_REDUCE * size, PRE_REDUCE * size), Image.Resampling.NEAREST
                    )
                rgba = image.convert("RGBA")
    except Exception:  # a corrupt or oversized image gets a placeholder, never a failed task
        return None
    rgba.thumbnail((size, size), Image.Resampling.LANCZOS)
    canvas = Image.new("RGB", rgba.size, "white")
    canvas.paste(rgba, mask=rgba.getchannel("A"))
    out = io.BytesIO()
    canvas.save(out, format="PNG", optimize=True)
    return out.getvalue()


def _strip(rows: Sequence[Any], thumbs: dict[str, str]) -> str:
    if not rows:
        return "<p class='note'>none</p>"
    ordered = sorted(rows, key=lambda r: (r["rank_in_cluster"] is None, r["rank_in_cluster"]))
    cells = []
    for r in ordered:
        label = f"id {r['id']} · rank {r['rank_in_cluster']}"
        if r["reason"]:
            label += f" · {r['reason']}"
        cells.append(_img(thumbs.get(str(r["id"])), label))
    return f"<div class='strip'>{''.join(cells)}</div>"


def _img(b64: str | None, title: str) -> str:
    safe = html.escape(title, quote=True)
    if b64 is None:
        return f"<span class='missing' title='{safe}'>?</span>"
    return f"<img src='data:image/png;base64,{b64}' title='{safe}' alt='{safe}'>"


# ---------------------------------------------------------------- manifest and page


def manifest_section(doc: dict[str, Any]) -> Section:
    """Key facts as a table, then the whole manifest pretty-printed."""
    info = doc.get("input") or {}
    facts = [
        ("run id", doc.get("run_id")),
        ("started / finished", f"{doc.get('started')} / {doc.get('finished')}"),
        ("input", f"{info.get('path')} (Delta version {info.get('delta_version')})"),
        ("SemDeDup eps", semdedup_eps(doc)),
        ("outputs", _output_versions(doc)),
    ]
    table = html_table((), [(k, "" if v is None else str(v)) for k, v in facts])
    text = html.escape(json.dumps(doc, indent=2, sort_keys=True, default=str))
    body = f"{table}<details open><summary>manifest.json</summary><pre>{text}</pre></details>"
    return Section("manifest", "Manifest", body)


def _output_versions(doc: dict[str, Any]) -> str:
    outputs = doc.get("outputs") or {}
    return ", ".join(f"{name} v{out.get('delta_version')}" for name, out in outputs.items())


def html_table(
    header: Sequence[str], rows: Sequence[Sequence[str]], numeric: Sequence[int] = ()
) -> str:
    """A small HTML table; every cell is escaped."""
    head = "".join(f"<th>{html.escape(h)}</th>" for h in header)
    thead = f"<thead><tr>{head}</tr></thead>" if header else ""
    body = "".join(
        "<tr>"
        + "".join(
            f"<td class='{'num' if i in numeric else ''}'>{html.escape(str(v))}</td>"
            for i, v in enumerate(row)
        )
        + "</tr>"
        for row in rows
    )
    return f"<table>{thead}<tbody>{body}</tbody></table>"


def new_figure(
    width: float, height: float, layout: Literal["constrained", "tight"] | None = "constrained"
) -> Any:
    """A matplotlib Figure that needs no pyplot state and no GUI backend."""
    from matplotlib.figure import Figure

    return Figure(figsize=(width, height), dpi=100, layout=layout)


def figure_html(fig: Any, alt: str) -> str:
    """The figure as an inline base64 PNG ``<img>``."""
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png")
    data = base64.b64encode(buffer.getvalue()).decode("ascii")
    alt_text = html.escape(alt, quote=True)
    return f"<img class='fig' alt='{alt_text}' src='data:image/png;base64,{data}'>"


CSS = """
body{font-family:system-ui,-apple-system,Segoe UI,Roboto,sans-serif;margin:24px auto;
max-width:1160px;color:#222;line-height:1.4;padding:0 16px}
h1{font-size:1.5em;margin-bottom:0}
h2{border-bottom:1px solid #ddd;padding-bottom:4px;margin-top:32px}
h3{font-size:1em;margin:14px 0 4px}h4{font-size:.85em;font-weight:normal;color:#555;margin:2px 0}
nav a{margin-right:12px}.sub{color:#666;margin-top:4px}
table{border-collapse:collapse;font-size:.9em;margin:8px 0}
td,th{border:1px solid #ddd;padding:3px 8px;text-align:left}td.num{text-align:right}
th{background:#f5f5f5}.note{color:#666;font-style:italic}img.fig{max-width:100%}
.cluster{display:flex;gap:24px;flex-wrap:wrap;align-items:flex-start}
.cluster h3{width:100%}.side{flex:1;min-width:500px}
.strip,.pairs{display:flex;flex-wrap:wrap;gap:4px}
.strip img,.pair img,.missing{width:60px;height:60px;object-fit:contain;border:1px solid #ddd;
background:#fff}.missing{display:inline-flex;align-items:center;justify-content:center;color:#aaa}
.pair{display:flex;flex-wrap:wrap;width:128px;gap:2px;border:1px solid #eee;padding:2px}
.cap{width:100%;font-size:.75em;color:#555;text-align:center}
pre{background:#f7f7f7;padding:8px;font-size:.75em;overflow:auto;max-height:520px}
"""


def _subtitle(doc: dict[str, Any]) -> str:
    counts = doc.get("counts") or {}
    parts = [f"input {(doc.get('input') or {}).get('path')}"]
    if isinstance(counts.get("kept"), int) and isinstance(counts.get("input"), int):
        parts.append(f"kept {counts['kept']:,} of {counts['input']:,} rows")
    parts.append(f"finished {doc.get('finished')}")
    return " · ".join(parts)


def render_page(doc: dict[str, Any], sections: Sequence[Section]) -> str:
    """The complete HTML document."""
    run_id = html.escape(str(doc.get("run_id", "")))
    nav = "".join(f"<a href='#{s.anchor}'>{html.escape(s.title)}</a>" for s in sections)
    sub = html.escape(_subtitle(doc))
    body = "".join(
        f"<section id='{s.anchor}'><h2>{html.escape(s.title)}</h2>{s.body}</section>"
        for s in sections
    )
    return (
        "<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'>"
        f"<title>spark_prune run {run_id}</title><style>{CSS}</style></head><body>"
        f"<h1>spark_prune run {run_id}</h1><p class='sub'>{sub}</p><nav>{nav}</nav>"
        f"{body}</body></html>\n"
    )
