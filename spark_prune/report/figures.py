"""The report's charts: small pandas frames in, inline PNG ``<img>`` tags out (matplotlib only).

Figures are built with ``matplotlib.figure.Figure`` (no pyplot state, no GUI backend) and
embedded as base64 ``data:`` URIs, so the page has no external assets.
"""

from __future__ import annotations

import base64
import html
import io
from collections.abc import Sequence
from typing import Any, Literal

import pandas as pd

STAGE_COLORS = {
    "invalid": "#999999",
    "semdedup": "#d62728",
    "clip_score": "#ff7f0e",
    "dbp": "#9467bd",
    "kept": "#2ca02c",
}


def new_figure(
    width: float, height: float, layout: Literal["constrained", "tight"] | None = "constrained"
) -> Any:
    """A matplotlib Figure that needs no pyplot state and no GUI backend."""
    from matplotlib.figure import Figure

    return Figure(figsize=(width, height), dpi=100, layout=layout)


def figure_png(fig: Any) -> bytes:
    """The figure as PNG bytes."""
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png")
    return buffer.getvalue()


def figure_html(fig: Any, alt: str) -> str:
    """The figure as an inline base64 PNG ``<img>``."""
    data = base64.b64encode(figure_png(fig)).decode("ascii")
    alt_text = html.escape(alt, quote=True)
    return f"<img class='fig' alt='{alt_text}' src='data:image/png;base64,{data}'>"


def counts_figure(shares: Sequence[tuple[str, float]]) -> str:
    """One stacked bar: (stage, % of input rows) in order; "" when there is nothing to show."""
    if not shares:
        return ""
    fig = new_figure(7.5, 1.6, layout=None)
    fig.subplots_adjust(left=0.02, right=0.98, top=0.62, bottom=0.32)
    ax = fig.add_subplot()
    left = 0.0
    for stage, width in shares:
        ax.barh([0], [width], left=left, color=STAGE_COLORS.get(stage, "#1f77b4"), label=stage)
        left += width
    ax.set_xlim(0, 100)
    ax.set_yticks([])
    ax.set_xlabel("% of input rows")
    ax.legend(ncol=len(shares), loc="lower center", bbox_to_anchor=(0.5, 1.0), frameon=False)
    return figure_html(fig, "share of input rows removed by each stage and kept")


def sizes_figure(frame: pd.DataFrame) -> str:
    """Rows per cluster (largest first), the kept part in green."""
    ordered = frame.sort_values(["size", "cluster_id"], ascending=[False, True])
    x = range(len(ordered))
    fig = new_figure(9, 3.2)
    ax = fig.add_subplot()
    ax.bar(x, ordered["size"], width=1.0, color="#c7c7c7", label="removed by DBP")
    ax.bar(x, ordered["kept"], width=1.0, color="#2ca02c", label="kept")
    ax.set_xlabel("clusters, largest first")
    ax.set_ylabel("rows")
    label_clusters(ax, ordered["cluster_id"].tolist())
    ax.legend(frameon=False)
    return figure_html(fig, "rows per cluster, kept part in green")


def label_clusters(ax: Any, cluster_ids: Sequence[int], max_labels: int = 40) -> None:
    """Cluster ids as x tick labels, or none when there are more than ``max_labels``."""
    if len(cluster_ids) <= max_labels:
        ax.set_xticks(range(len(cluster_ids)))
        ax.set_xticklabels([str(c) for c in cluster_ids], fontsize=7, rotation=90)
    else:
        ax.set_xticks([])
    ax.set_xlim(-0.5, len(cluster_ids) - 0.5)


def bound_groups(frame: pd.DataFrame) -> list[tuple[str, pd.DataFrame, str]]:
    """(label, clusters, colour) for clusters between bounds, capped, at the lower bound."""
    capped = frame["capped"].astype(bool) if "capped" in frame else False
    lower = frame["at_lower_bound"].astype(bool) if "at_lower_bound" in frame else False
    inner = ~(capped | lower)
    return [
        ("between bounds", frame[inner], "#1f77b4"),
        ("capped (quota = size)", frame[capped], "#d62728"),
        ("at lower bound", frame[lower & ~capped], "#ff7f0e"),
    ]


def complexity_figure(frame: pd.DataFrame) -> str:
    """Quota and quota / size against complexity, coloured by which bound binds."""
    fig = new_figure(9, 3.6)
    left, right = fig.subplots(1, 2)
    for label, part, color in bound_groups(frame):
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


def kept_fraction_figure(frame: pd.DataFrame) -> str:
    """Kept / size per cluster, most complex first, capped in red, the overall share dashed."""
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
    label_clusters(ax, ordered["cluster_id"].tolist())
    return figure_html(fig, "kept fraction per cluster")


def similarity_figure(bins: pd.DataFrame, cut: float | None) -> str:
    """The max-similarity histogram (``lo``, ``hi``, ``count``), log scale, ``cut`` in red."""
    fig = new_figure(9, 3.2)
    ax = fig.add_subplot()
    ax.bar(
        bins["lo"],
        bins["count"],
        width=bins["hi"] - bins["lo"],
        align="edge",
        color="#1f77b4",
        edgecolor="white",
        linewidth=0.3,
    )
    if cut is not None:
        ax.axvline(cut, color="#d62728", linewidth=1.5, label=f"1 − eps = {cut:.3f}")
        ax.legend(frameon=False, loc="upper left")
    ax.set_yscale("log")
    ax.set_xlabel("max similarity to an earlier row (semdedup_max_sim)")
    ax.set_ylabel("rows (log)")
    return figure_html(fig, "SemDeDup max-similarity histogram")
