"""The report's Spark aggregations: histogram bins, thumbnail picks, counts, eps, pinned reads."""

from __future__ import annotations

from dataclasses import replace

from pyspark.sql import SparkSession

from spark_prune.report.data import (
    THUMBS_PER_SIDE,
    cluster_frame,
    load_run,
    pick_thumbnail_rows,
    semdedup_eps,
    similarity_histogram,
    stage_counts,
)
from tests.run_fixture import (
    EPS,
    SIZES,
    FixtureRun,
    shared_run_fixture,  # noqa: F401  (provides the shared_run fixture)
)


def test_similarity_histogram_counts_every_row(spark: SparkSession, shared_run: FixtureRun) -> None:
    decisions = spark.read.format("delta").load(f"{shared_run.path}/decisions")
    cut = 1 - EPS
    hist = similarity_histogram(decisions, bins=10, cut=cut)
    expected = decisions.filter("semdedup_max_sim IS NOT NULL").count()
    assert int(hist.bins["count"].sum()) == expected > 0
    assert len(hist.bins) <= 11
    assert hist.above == shared_run.counts["semdedup"]
    edges = set(hist.bins["lo"].round(9)) | set(hist.bins["hi"].round(9))
    assert round(cut, 9) in edges  # the cut is a bin edge, no bin straddles it
    top = decisions.agg({"semdedup_max_sim": "max"}).first()
    assert top is not None
    assert hist.bins["hi"].max() >= top[0] - 1e-12


def test_pick_thumbnail_rows_caps_each_side(spark: SparkSession, shared_run: FixtureRun) -> None:
    decisions = spark.read.format("delta").load(f"{shared_run.path}/decisions")
    rows = pick_thumbnail_rows(decisions, "id", [1]).collect()
    quota = shared_run.quotas[1]
    kept = sorted(r["rank_in_cluster"] for r in rows if r["kept"])
    removed = sorted(r["rank_in_cluster"] for r in rows if not r["kept"])
    assert kept == list(range(min(quota, THUMBS_PER_SIDE)))  # the farthest rows first
    assert removed == list(range(quota, quota + THUMBS_PER_SIDE))


def test_stage_counts_recomputed_when_the_manifest_has_none(
    spark: SparkSession, shared_run: FixtureRun
) -> None:
    tables = load_run(spark, shared_run.path)
    assert stage_counts(tables) == tables.manifest["counts"]
    without = replace(tables, manifest={**tables.manifest, "counts": {}})
    assert stage_counts(without) == shared_run.counts  # from the decisions table


def test_cluster_frame_has_kept_fraction(spark: SparkSession, shared_run: FixtureRun) -> None:
    frame = cluster_frame(load_run(spark, shared_run.path))
    assert frame["cluster_id"].tolist() == list(range(len(SIZES)))
    assert frame["size"].tolist() == list(SIZES)
    assert frame["kept_fraction"].tolist() == [
        q / s for q, s in zip(shared_run.quotas, SIZES, strict=True)
    ]
    assert "centroid" not in frame.columns


def test_semdedup_eps_from_manifest_then_config() -> None:
    assert semdedup_eps({"semdedup": {"eps": EPS}, "config": {"semdedup": {"eps": 0.5}}}) == EPS
    assert semdedup_eps({"semdedup": None, "config": {"semdedup": {"eps": 0.5}}}) == 0.5
    assert semdedup_eps({}) is None
