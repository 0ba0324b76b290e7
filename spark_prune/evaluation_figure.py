"""The evaluation's figure and table in HTML: a section of the run report (when the output
holds an ``evaluation`` table) and the standalone ``evaluation.html`` that evaluate writes."""

from __future__ import annotations

import html
import math
from typing import Any

import pandas as pd
from pyspark.sql import SparkSession

from spark_prune.report import CSS, Section, figure_html, html_table, new_figure

TABLE = "evaluation"  # spark_prune.evaluate.TABLE (not imported: that pulls in Spark ML)
FULL = "full"


def accuracy_figure(table: pd.DataFrame) -> Any:
    """Accuracy vs budget, one line per strategy; the whole-train ``full`` line dashed."""
    fig = new_figure(7.5, 4.2)
    ax = fig.add_subplot(1, 1, 1)
    budgets = sorted(table.loc[table["strategy"] != FULL, "budget"].unique())
    for strategy, rows in table[table["strategy"] != FULL].groupby("strategy", sort=False):
        rows = rows.dropna(subset=["accuracy"]).sort_values("budget")
        ax.plot(rows["budget"], rows["accuracy"], marker="o", label=str(strategy))
    full = table[table["strategy"] == FULL].dropna(subset=["accuracy"])
    if len(full) and budgets:
        ax.hlines(
            float(full["accuracy"].iloc[0]),
            min(budgets),
            max(budgets),
            colors="black",
            linestyles="dashed",
            label="full (all train rows)",
        )
    ax.set_xlabel("budget (fraction of train rows kept)")
    ax.set_ylabel("test accuracy (linear probe)")
    ax.grid(alpha=0.3)
    ax.legend(fontsize="small")
    return fig


def evaluation_body(table: pd.DataFrame) -> str:
    """The figure and the table as HTML."""
    rows = [
        [
            r.strategy,
            f"{r.budget:.2f}",
            f"{r.rows_kept:,}",
            _num(r.accuracy),
            _num(r.macro_f1),
            f"{r.seconds:.1f}",
        ]
        for r in table.itertuples(index=False)
    ]
    header = ["strategy", "budget", "rows kept", "accuracy", "macro-F1", "seconds"]
    figure = figure_html(accuracy_figure(table), "accuracy vs budget per strategy")
    note = (
        "<p class='note'>A linear probe (multinomial logistic regression on the embedding) "
        "trained on each strategy's subset of the train part and scored on the test part.</p>"
    )
    return figure + note + html_table(header, rows, numeric=(1, 2, 3, 4, 5))


def _num(value: Any) -> str:
    return "infeasible" if value is None or math.isnan(value) else f"{value:.4f}"


def evaluation_section(spark: SparkSession, run_path: str) -> Section | None:
    """The report's evaluation section, or None when ``<run>/evaluation`` does not exist."""
    from spark_prune.evaluate import _path_has_delta

    path = f"{run_path.rstrip('/')}/{TABLE}"
    if not _path_has_delta(spark, path):
        return None
    return Section(
        "evaluation",
        "Strategies compared (linear probe)",
        evaluation_body(sort_table(spark.read.format("delta").load(path).toPandas())),
    )


def sort_table(table: pd.DataFrame) -> pd.DataFrame:
    """``full`` first, then by strategy and budget."""
    rank = (table["strategy"] != FULL).astype(int)
    return table.assign(_r=rank).sort_values(["_r", "strategy", "budget"]).drop(columns="_r")


def evaluation_page(table: pd.DataFrame) -> str:
    """A standalone HTML page of the evaluation."""
    title = "spark_prune evaluation"
    return (
        "<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'>"
        f"<title>{html.escape(title)}</title><style>{CSS}</style></head><body>"
        f"<h1>{html.escape(title)}</h1>{evaluation_body(table)}</body></html>\n"
    )
