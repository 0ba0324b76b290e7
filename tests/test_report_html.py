"""The report's HTML: sections when a stage did not run, escaped tables, the page frame."""

from __future__ import annotations

from dataclasses import replace

from pyspark.sql import SparkSession

from spark_prune.contract import CLUSTERS_SCHEMA
from spark_prune.report.data import load_run
from spark_prune.report.html import (
    Section,
    cluster_sections,
    html_table,
    render_page,
    thumbnails_section,
)
from tests.run_fixture import (
    FixtureRun,
    shared_run_fixture,  # noqa: F401  (provides the shared_run fixture)
)


def test_cluster_sections_when_dbp_did_not_run(spark: SparkSession, shared_run: FixtureRun) -> None:
    tables = load_run(spark, shared_run.path)
    tables.clusters = spark.createDataFrame([], CLUSTERS_SCHEMA)
    (section,) = cluster_sections(tables)
    assert section.anchor == "clusters" and "DBP did not run" in section.body
    assert "No DBP clusters to show" in thumbnails_section(spark, tables, "image", 6).body


def test_thumbnails_section_names_a_column_that_holds_no_bytes(
    spark: SparkSession, shared_run: FixtureRun
) -> None:
    tables = load_run(spark, shared_run.path)
    body = thumbnails_section(spark, tables, "caption", 6).body
    assert body == (
        "<p class='note'>No thumbnails: <code>caption</code> is not a binary (image bytes) "
        "column.</p>"
    )
    unreadable = replace(tables, manifest={**tables.manifest, "input": {"path": "/nonexistent"}})
    body = thumbnails_section(spark, unreadable, "image", 6).body
    assert "the input table named in the manifest cannot be read" in body


def test_html_table_escapes_every_cell() -> None:
    table = html_table(("a<b", "n"), [("<script>", "1,000")], numeric=(1,))
    assert table == (
        "<table><thead><tr><th>a&lt;b</th><th>n</th></tr></thead><tbody><tr>"
        "<td class=''>&lt;script&gt;</td><td class='num'>1,000</td></tr></tbody></table>"
    )
    assert "<thead>" not in html_table((), [("k", "v")])


def test_render_page_links_every_section_and_escapes_the_run_id() -> None:
    doc = {"run_id": "r<1>", "counts": {"input": 1000, "kept": 250}, "input": {"path": "/in"}}
    sections = [Section("one", "First & only", "<p>body</p>")]
    page = render_page(doc, sections)
    assert "<title>spark_prune run r&lt;1&gt;</title>" in page
    assert "<a href='#one'>First &amp; only</a>" in page
    assert "<section id='one'><h2>First &amp; only</h2><p>body</p></section>" in page
    assert "kept 250 of 1,000 rows" in page


def test_manifest_section_summarises_an_incremental_run() -> None:
    from spark_prune.report.html import incremental_summary, manifest_section

    drift = {"added_rows_in_dbp": 10, "share_beyond_p95": 0.4, "refit_due": True}
    changes = {"method": "change_data_feed", "added": 20, "deleted": 4, "drift": drift}
    versions = {"previous_run_id": "r1", "previous_input_version": 3, "input_version": 5}
    doc = {"run_id": "r2", "incremental": {**versions, **changes}}
    line = incremental_summary(doc)
    assert line is not None and "input version 3 -> 5" in line
    assert "20 rows added, 4 deleted" in line
    assert "40.0% of the added rows" in line and "refit is due" in line
    assert line in manifest_section(doc).body.replace("&gt;", ">")
    assert incremental_summary({"incremental": None}) is None
    quiet = {**versions, "input_version": 3, "method": "unchanged", "added": 0, "deleted": 0}
    line = incremental_summary({"incremental": quiet})
    assert line is not None and "(input version 3 -> 3, unchanged): 0 rows added" in line
