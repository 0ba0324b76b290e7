"""The evaluation section of the report (report/evaluation.py): table order and cells, the
figure (one line per strategy, the ``full`` line dashed), and a run without an evaluation."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
from pyspark.sql import SparkSession

from spark_prune.report.evaluation import (
    _evaluation_refs,
    accuracy_figure,
    evaluation_html,
    evaluation_section,
    sort_table,
    table_rows,
)

TABLE = pd.DataFrame(
    {
        "strategy": ["random", "dbp", "full", "dbp", "random"],
        "budget": [0.5, 0.5, 1.0, 0.2, 0.2],
        "rows_kept": [500, 500, 1000, 200, 200],
        "accuracy": [0.81, 0.8, 0.84, float("nan"), 0.75],
        "macro_f1": [0.8, 0.79, 0.83, float("nan"), 0.74],
        "seconds": [1.25, 2.0, 0.0, 0.0, 1.0],
    }
)


def test_full_first_then_strategy_and_budget() -> None:
    order = sort_table(TABLE)[["strategy", "budget"]].values.tolist()
    assert order == [["full", 1.0], ["dbp", 0.2], ["dbp", 0.5], ["random", 0.2], ["random", 0.5]]
    rows = table_rows(TABLE)
    assert rows[0] == ["full", "1.00", "1,000", "0.8400", "0.8300", "0.0"]
    assert rows[1][3:5] == ["infeasible", "infeasible"]  # an infeasible budget has no score
    assert rows[4] == ["random", "0.50", "500", "0.8100", "0.8000", "1.2"]


def test_figure_has_a_line_per_strategy_and_a_dashed_full_line() -> None:
    ax = accuracy_figure(TABLE).axes[0]
    lines = {line.get_label(): line for line in ax.get_lines()}
    assert set(lines) == {"dbp", "random"}
    assert list(lines["dbp"].get_xdata()) == [0.5]  # the infeasible point is left out
    assert list(lines["random"].get_ydata()) == [0.75, 0.81]
    (full,) = ax.collections
    assert full.get_label() == "full (all train rows)" and full.get_linestyle()[0][1] is not None
    page = evaluation_html(TABLE)
    assert page.count("data:image/png;base64") == 1 and "<td>infeasible</td>" in page.replace(
        " class='num'", ""
    )


def test_where_a_run_s_evaluation_is_looked_for() -> None:
    assert _evaluation_refs("/runs/r1/", {"path": "/elsewhere"}) == ["/runs/r1/evaluation"]
    assert _evaluation_refs("/runs/r1/manifest.json", {}) == ["/runs/r1/evaluation"]
    assert _evaluation_refs("/m/r1.json", {"path": "/runs/r1"}) == ["/runs/r1/evaluation"]
    catalog = {"path": "", "catalog_schema": "main.runs"}
    assert _evaluation_refs("/m/r1.json", catalog) == ["main.runs.evaluation"]
    assert _evaluation_refs("/m/r1.json", {}) == []


def test_no_section_without_an_evaluation(spark: SparkSession, tmp_path: Path) -> None:
    assert evaluation_section(spark, str(tmp_path / "no_such_run")) is None
