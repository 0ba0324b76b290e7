"""The HTML report: self-contained, every section present, stages that did not run handled."""

from __future__ import annotations

import re
from html.parser import HTMLParser
from pathlib import Path

import pytest
from pyspark.sql import SparkSession

from spark_prune.report import write_report
from spark_prune.report.data import THUMBS_PER_SIDE, load_run
from spark_prune.report.html import thumbnails_section
from tests.run_fixture import (
    EPS,
    RUN_ID,
    SEMDEDUP_REMOVED,
    SIZES,
    FixtureRun,
    shared_run_fixture,  # noqa: F401  (provides the shared_run fixture)
    write_run,
)

SECTIONS = (
    "counts",
    "sizes",
    "complexity",
    "kept-fraction",
    "capped",
    "semdedup",
    "thumbnails",
    "manifest",
)


class _Links(HTMLParser):
    """Every src/href in a page, and the section ids."""

    def __init__(self) -> None:
        super().__init__()
        self.urls: list[tuple[str, str, str]] = []
        self.sections: list[str] = []
        self.tags: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append(tag)
        for name, value in attrs:
            if name in ("src", "href") and value is not None:
                self.urls.append((tag, name, value))
            if tag == "section" and name == "id" and value:
                self.sections.append(value)


def _parse(page: str) -> _Links:
    parser = _Links()
    parser.feed(page)
    return parser


@pytest.fixture(scope="module")
def full_run(shared_run: FixtureRun) -> FixtureRun:
    return shared_run


@pytest.fixture(scope="module")
def full_page(
    spark: SparkSession, full_run: FixtureRun, tmp_path_factory: pytest.TempPathFactory
) -> str:
    out = tmp_path_factory.mktemp("report_out") / "nested" / "report.html"
    returned = write_report(spark, full_run.path, str(out), max_clusters_shown=3)
    assert returned == str(out)
    assert out.is_file()
    return out.read_text()


def test_report_is_self_contained(full_page: str) -> None:
    links = _parse(full_page)
    assert links.urls, "the page should at least link its own sections"
    for tag, attr, url in links.urls:
        if attr == "src":
            assert url.startswith("data:image/png;base64,"), (tag, url[:40])
        else:
            assert url.startswith("#"), (tag, url)
    assert "script" not in links.tags and "link" not in links.tags
    assert not re.search(r"https?://", full_page.split("<pre>")[0])


def test_report_has_every_section(full_page: str, full_run: FixtureRun) -> None:
    links = _parse(full_page)
    assert links.sections == list(SECTIONS)
    assert RUN_ID in full_page
    assert f"1 − eps = {1 - EPS:.3f}" in full_page
    for stage, value in full_run.counts.items():
        if value:
            assert f">{value:,}<" in full_page, stage


def test_report_lists_capped_clusters(full_page: str, full_run: FixtureRun) -> None:
    capped = full_page.split("id='capped'")[1].split("</section>")[0]
    assert full_run.capped == [3] and full_run.at_lower_bound == [2]
    assert "1 of 4 clusters hit their upper bound" in capped
    assert "1 sit at their lower bound" in capped
    assert "<td class='num'>3</td><td class='num'>8</td>" in capped  # cluster 3, size 8
    assert "<td class='num'>0</td><td class='num'>40</td>" not in capped


def test_report_thumbnails(full_page: str, full_run: FixtureRun) -> None:
    gallery = full_page.split("id='thumbnails'")[1].split("</section>")[0]
    assert gallery.count("<h3>cluster ") == 3
    thumbs = re.findall(r"<img src='data:image/png;base64,[^']+' title='([^']+)'", gallery)
    kept = [t for t in thumbs if t.startswith("id ") and not t.endswith("dbp")]
    removed = [t for t in thumbs if t.endswith("dbp")]
    shown = sorted(range(len(SIZES)), key=lambda c: -SIZES[c])[:3]
    quotas = full_run.quotas
    assert len(kept) == sum(min(quotas[c], THUMBS_PER_SIDE) for c in shown)
    assert len(removed) == sum(min(SIZES[c] - quotas[c], THUMBS_PER_SIDE) for c in shown)
    pairs = re.findall(r"title='removed: (\d+)'", gallery)
    assert len(pairs) == min(SEMDEDUP_REMOVED, 8)
    assert "?</span>" not in gallery  # every picked row found its image


def test_report_without_semdedup_or_images(spark: SparkSession, tmp_path: Path) -> None:
    run = write_run(spark, tmp_path / "plain", semdedup=False, images=False)
    page = Path(write_report(spark, run.path, str(tmp_path / "r.html"))).read_text()
    assert "SemDeDup did not run" in page
    assert "1 − eps" not in page
    assert "No thumbnails: the input has no column <code>image</code>" in page
    assert _parse(page).sections == list(SECTIONS)
    switched_off = thumbnails_section(spark, load_run(spark, run.path), None, 6)
    assert "Thumbnails switched off" in switched_off.body


def test_report_of_a_manifest_file_goes_beside_it(full_run: FixtureRun, tmp_path: Path) -> None:
    """``--run _previous_runs/<id>.json`` (a replaced run) without ``--out``."""
    from spark_prune.cli import main

    manifest = tmp_path / "_previous_runs" / "abc.json"
    manifest.parent.mkdir()
    manifest.write_text((Path(full_run.path) / "manifest.json").read_text())
    assert main(["report", "--run", str(manifest)]) == 0
    assert "<html" in (tmp_path / "_previous_runs" / "abc.report.html").read_text()
