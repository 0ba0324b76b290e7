"""The report's evaluation section (when the run's output holds an ``evaluation`` table) and
the body of the standalone ``evaluation.html`` that ``spark-prune evaluate`` writes: accuracy vs
budget per strategy, and the table. Built with the report's figure and HTML helpers."""

from __future__ import annotations

import html
import math
from collections.abc import Mapping
from typing import Any

import pandas as pd
from pyspark.sql import SparkSession

from spark_prune.contract import MANIFEST_FILE
from spark_prune.lake import DeltaLocation
from spark_prune.report.figures import figure_html
from spark_prune.report.html import Section, html_table

TABLE = "evaluation"  # spark_prune.evaluate.TABLE (not imported: that pulls in Spark ML)
FULL = "full"
TITLE = "Strategies compared (linear probe)"
NOTE = (
    "A linear probe (multinomial logistic regression on the embedding) trained on each "
    "strategy's subset of the train part and scored on the test part."
)
HEADER = ["strategy", "budget", "rows kept", "accuracy", "macro-F1", "seconds"]


def accuracy_figure(table: pd.DataFrame) -> Any:
    """Accuracy vs budget, one line per strategy; the whole-train ``full`` line dashed."""
    from matplotlib.figure import Figure

    fig = Figure(figsize=(7.5, 4.2), dpi=100, layout="constrained")
    ax = fig.add_subplot(1, 1, 1)
    pruned = table[table["strategy"] != FULL]
    for strategy, rows in pruned.groupby("strategy", sort=True):
        rows = rows.dropna(subset=["accuracy"]).sort_values("budget")
        ax.plot(rows["budget"], rows["accuracy"], marker="o", label=str(strategy))
    full = table[table["strategy"] == FULL].dropna(subset=["accuracy"])
    if len(full) and len(pruned):
        ax.hlines(
            float(full["accuracy"].iloc[0]),
            float(pruned["budget"].min()),
            float(pruned["budget"].max()),
            colors="black",
            linestyles="dashed",
            label="full (all train rows)",
        )
    ax.set_xlabel("budget (fraction of train rows kept)")
    ax.set_ylabel("test accuracy (linear probe)")
    ax.grid(alpha=0.3)
    ax.legend(fontsize="small")
    return fig


def table_rows(table: pd.DataFrame) -> list[list[str]]:
    """The table's cells as text, in :func:`sort_table` order (see ``HEADER``)."""
    return [
        [
            r.strategy,
            f"{r.budget:.2f}",
            f"{r.rows_kept:,}",
            _num(r.accuracy),
            _num(r.macro_f1),
            f"{r.seconds:.1f}",
        ]
        for r in sort_table(table).itertuples(index=False)
    ]


def _num(value: Any) -> str:
    return "infeasible" if value is None or math.isnan(value) else f"{value:.4f}"


def sort_table(table: pd.DataFrame) -> pd.DataFrame:
    """``full`` first, then by strategy and budget."""
    rank = (table["strategy"] != FULL).astype(int)
    return table.assign(_r=rank).sort_values(["_r", "strategy", "budget"]).drop(columns="_r")


def read_evaluation(
    spark: SparkSession, run_path: str, output: Mapping[str, Any] | None = None
) -> pd.DataFrame | None:
    """The evaluation beside the run as pandas (a few dozen rows), or None when there is none:
    ``<run>/evaluation`` (``run_path`` the run's directory or its ``manifest.json``), else in
    the output its manifest's config names (``output``: a catalog schema, or a path when the
    run is named by another manifest file)."""
    for ref in _evaluation_refs(run_path, output or {}):
        table = DeltaLocation(ref)
        if table.exists(spark):
            return table.read(spark).toPandas()
    return None


def _evaluation_refs(run_path: str, output: Mapping[str, Any]) -> list[str]:
    folder = run_path.rstrip("/")
    if not folder.endswith(".json"):  # the run's own directory (a copied run reads its own)
        return [f"{folder}/{TABLE}"]
    if folder.endswith(f"/{MANIFEST_FILE}"):
        return [f"{folder.rpartition('/')[0]}/{TABLE}"]
    if output.get("catalog_schema"):
        return [f"{output['catalog_schema']}.{TABLE}"]
    if output.get("path"):
        return [f"{str(output['path']).rstrip('/')}/{TABLE}"]
    return []


def evaluation_section(
    spark: SparkSession, run_path: str, output: Mapping[str, Any] | None = None
) -> Section | None:
    """``spark-prune evaluate``'s figure and table, when the run's output holds one
    (``output``: the run's ``config.output`` from its manifest)."""
    table = read_evaluation(spark, run_path, output)
    if table is None:
        return None
    return Section("evaluation", TITLE, evaluation_html(table))


def evaluation_html(table: pd.DataFrame) -> str:
    """The figure, a note on how it was measured, and the table."""
    figure = figure_html(accuracy_figure(table), "accuracy vs budget per strategy")
    rows = html_table(HEADER, table_rows(table), numeric=(1, 2, 3, 4, 5))
    return f"{figure}<p class='note'>{html.escape(NOTE)}</p>{rows}"
