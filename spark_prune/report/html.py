"""The report's HTML: one section per part of the run, tables, thumbnails, the page and its CSS.

Sections take the run's tables, ask :mod:`spark_prune.report.data` for small frames and
:mod:`spark_prune.report.figures` for the charts; every text cell is escaped here.
"""

from __future__ import annotations

import html
import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import pandas as pd
from pyspark.sql import SparkSession

from spark_prune import contract
from spark_prune.report import data, figures
from spark_prune.report.data import STAGES, THUMBS_PER_SIDE, Gallery, RunTables


@dataclass
class Section:
    """One titled part of the page; ``body`` is trusted HTML built by this module."""

    anchor: str
    title: str
    body: str


# ---------------------------------------------------------------- counts and clusters


def counts_section(tables: RunTables) -> Section:
    """Rows per stage from the manifest (recomputed from ``decisions`` when missing)."""
    counts = data.stage_counts(tables)
    total = max(int(counts.get("input", 0)), 1)
    ordered = [s for s in STAGES if s in counts] + sorted(set(counts) - set(STAGES))
    rows = [
        (_stage_label(s), f"{int(counts[s]):,}", f"{100.0 * int(counts[s]) / total:.1f}%")
        for s in ordered
    ]
    shares = [(s, 100.0 * int(counts[s]) / total) for s in STAGES[1:] if int(counts.get(s, 0)) > 0]
    body = html_table(("stage", "rows", "of input"), rows, numeric=(1, 2))
    return Section("counts", "Counts per stage", body + figures.counts_figure(shares))


def _stage_label(stage: str) -> str:
    if stage in ("input", "kept"):
        return "input rows" if stage == "input" else "kept"
    if stage in STAGES:
        return f"removed by {stage}"
    return f"{stage} (breakdown, counted above)"  # e.g. clip_score_invalid within invalid


def cluster_sections(tables: RunTables) -> list[Section]:
    """Cluster sizes, complexity vs quota, kept fraction, and the capped clusters."""
    frame = data.cluster_frame(tables)
    if frame.empty:
        note = "<p class='note'>DBP did not run: the <code>clusters</code> table is empty.</p>"
        return [Section("clusters", "DBP clusters", note)]
    return [
        Section("sizes", "Cluster sizes", figures.sizes_figure(frame) + _cluster_summary(frame)),
        Section("complexity", "Complexity vs quota", figures.complexity_figure(frame)),
        Section("kept-fraction", "Kept fraction per cluster", figures.kept_fraction_figure(frame)),
        Section("capped", "Quota solver: capped clusters", _capped_table(frame)),
    ]


def _cluster_summary(frame: pd.DataFrame) -> str:
    sizes = frame["size"]
    return (
        f"<p>{len(frame):,} non-empty clusters; sizes {int(sizes.min()):,} to "
        f"{int(sizes.max()):,} (median {float(sizes.median()):,.0f}); "
        f"{int(frame['kept'].sum()):,} of {int(sizes.sum()):,} rows entering DBP kept.</p>"
    )


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


def semdedup_section(tables: RunTables) -> Section:
    """Histogram of each row's max similarity to an earlier row, with the 1 - eps cut."""
    eps = data.semdedup_eps(tables.manifest)
    cut = None if eps is None else 1.0 - eps
    hist = data.similarity_histogram(tables.decisions, cut=cut)
    if hist.bins.empty:
        note = (
            "<p class='note'>SemDeDup did not run: <code>semdedup_max_sim</code> is null for "
            "every row.</p>"
        )
        return Section("semdedup", "SemDeDup similarities", note)
    text = "<p>Each row's maximum cosine similarity to an earlier row of its SemDeDup cluster."
    if cut is not None:
        text += (
            f" Rows right of the red line, 1 − eps = {cut:.3f} (eps = {eps:g}), are removed:"
            f" {hist.above:,} rows."
        )
    body = text + "</p>" + figures.similarity_figure(hist.bins, cut)
    return Section("semdedup", "SemDeDup similarities", body)


# ---------------------------------------------------------------- thumbnails


def thumbnails_section(
    spark: SparkSession, tables: RunTables, column: str | None, max_clusters: int
) -> Section:
    """Kept vs removed thumbnails for the largest clusters, and SemDeDup pairs."""
    title = "Thumbnails: kept vs removed"
    if column is None:
        return Section("thumbnails", title, "<p class='note'>Thumbnails switched off.</p>")
    images, problem = data.thumbnail_images(spark, tables, column)
    if images is None:
        reason = (problem or "").format(column=f"<code>{html.escape(column)}</code>")
        return Section("thumbnails", title, f"<p class='note'>No thumbnails: {reason}.</p>")
    shown = data.largest_clusters(tables.clusters, max_clusters)
    clusters, pairs = data.galleries(tables, images, shown)  # one pass over the images
    parts = [_cluster_gallery(shown, clusters if shown else None), _semdedup_gallery(pairs)]
    return Section("thumbnails", title, "".join(parts))


def _cluster_gallery(shown: Sequence[int], gallery: Gallery | None) -> str:
    if gallery is None:
        return "<p class='note'>No DBP clusters to show.</p>"
    blocks = []
    for cluster_id in shown:
        mine = [r for r in gallery.rows if r[contract.CLUSTER_ID] == cluster_id]
        kept = [r for r in mine if r[contract.KEPT]]
        removed = [r for r in mine if not r[contract.KEPT]]
        blocks.append(
            f"<div class='cluster'><h3>cluster {cluster_id}</h3>"
            f"<div class='side'><h4>kept (farthest from centroid first)</h4>"
            f"{_strip(kept, gallery.thumbs)}</div>"
            f"<div class='side'><h4>removed</h4>{_strip(removed, gallery.thumbs)}</div></div>"
        )
    intro = (
        f"<p>The {len(shown)} largest clusters; up to {THUMBS_PER_SIDE} rows per side in "
        f"<code>rank_in_cluster</code> order (0 = farthest from the centroid).</p>"
    )
    return intro + "".join(blocks)


def _semdedup_gallery(pairs: Gallery) -> str:
    if not pairs.rows:
        return ""
    cells = "".join(
        _pair_cell(r["id"], r["partner"], r[contract.SEMDEDUP_MAX_SIM], pairs.thumbs)
        for r in pairs.rows
    )
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


def _strip(rows: Sequence[Any], thumbs: dict[str, str]) -> str:
    if not rows:
        return "<p class='note'>none</p>"
    rank = contract.RANK_IN_CLUSTER
    ordered = sorted(rows, key=lambda r: (r[rank] is None, r[rank]))
    cells = []
    for r in ordered:
        label = f"id {r['id']} · rank {r[rank]}"
        if r[contract.REASON]:
            label += f" · {r[contract.REASON]}"
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
        ("SemDeDup eps", data.semdedup_eps(doc)),
        ("outputs", _output_versions(doc)),
        ("incremental", incremental_summary(doc)),
    ]
    table = html_table((), [(k, "" if v is None else str(v)) for k, v in facts])
    text = html.escape(json.dumps(doc, indent=2, sort_keys=True, default=str))
    body = f"{table}<details open><summary>manifest.json</summary><pre>{text}</pre></details>"
    return Section("manifest", "Manifest", body)


def incremental_summary(doc: dict[str, Any]) -> str | None:
    """An incremental run in one line: its previous run, the changes and the drift."""
    inc = doc.get("incremental")
    if not inc:
        return None
    how = "unchanged" if inc.get("method") == "unchanged" else f"by {inc.get('method')}"
    text = (
        f"from run {inc.get('previous_run_id')} (input version {inc.get('previous_input_version')}"
        f" -> {inc.get('input_version')}, {how}): {inc.get('added')} rows "
        f"added, {inc.get('deleted')} deleted"
    )
    drift = inc.get("drift") or {}
    if drift.get("added_rows_in_dbp"):
        text += (
            f"; {100 * drift['share_beyond_p95']:.1f}% of the added rows beyond the previous "
            f"95th percentile of dist"
            + (" (above incremental.refit_above: a full refit is due)" if drift.get("refit_due")
               else "")
        )  # fmt: skip
    if inc.get("refit"):
        text += "; refitted instead (incremental.refit: auto): a full run on the new version"
    return text


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
