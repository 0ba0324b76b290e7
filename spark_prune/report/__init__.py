"""A self-contained HTML report of one run: charts, tables and thumbnails in a single file.

:mod:`~spark_prune.report.data` loads the run and aggregates it on Spark into small pandas
frames, :mod:`~spark_prune.report.figures` turns those into matplotlib PNGs and
:mod:`~spark_prune.report.html` renders the sections and the page. Figures and thumbnails are
base64 ``data:`` URIs, so the page has no external assets and can be mailed or attached to a
ticket.

    spark-prune report --run /lake/runs/r1 --out r1.html
"""

from __future__ import annotations

import logging

from pyspark.sql import SparkSession

from spark_prune import tracking
from spark_prune.lake import write_text
from spark_prune.report.data import load_run
from spark_prune.report.evaluation import evaluation_section
from spark_prune.report.html import (
    cluster_sections,
    counts_section,
    manifest_section,
    render_page,
    semdedup_section,
    thumbnails_section,
)

__all__ = ["evaluation_section", "write_report"]

log = logging.getLogger(__name__)


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
    table has a binary ``thumbnails_column``), the strategy comparison when the run's output
    holds an ``evaluation`` table (``report.evaluation``), and the manifest. A stage that did
    not run is reported as such instead of failing. When the run was tracked in MLflow, the
    page is also logged to that MLflow run as ``report.html``.
    """
    tables = load_run(spark, run_path)
    sections = [
        counts_section(tables),
        *cluster_sections(tables),
        semdedup_section(tables),
        thumbnails_section(spark, tables, thumbnails_column, max_clusters_shown),
        manifest_section(tables.manifest),
    ]
    output = (tables.manifest.get("config") or {}).get("output")
    evaluation = evaluation_section(spark, run_path, output)
    if evaluation is not None:  # a run of ``spark-prune evaluate``: before the manifest
        sections.insert(-1, evaluation)
    page = render_page(tables.manifest, sections)
    write_text(spark, out_html, page)
    log.info("report written to %s (%d KB)", out_html, len(page) // 1024)
    tracking.log_report(tables.manifest, page)  # MLflow, only when the run was tracked
    return out_html
