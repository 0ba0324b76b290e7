"""SemDeDup → DBP in one pipeline, and rethreshold equal to a fresh run at the new eps."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from pyspark.sql import SparkSession

from spark_prune.cli import main
from spark_prune.config import ConfigError
from spark_prune.core.vectors import l2_normalize
from spark_prune.errors import EXIT_FAILURE, EXIT_USAGE, UserError
from spark_prune.pipeline import run
from spark_prune.rethreshold import rethreshold_config
from tests.helpers import embedding_rows, make_config, write_input

pytestmark = pytest.mark.slow  # run first under xdist (tests/conftest.py)

SEMDEDUP = {
    "enabled": True,
    "eps": 0.02,
    "rows_per_cluster": 100,
    "kmeans": {"k": "auto", "iterations": 10},
}


def with_near_duplicates(n: int, dim: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Rows plus, for a third of them, copies at graded noise (some within each eps)."""
    ids, x = embedding_rows(n, dim, 4, seed)
    rng = np.random.default_rng(seed)
    source = rng.choice(n, size=n // 3, replace=False)
    noise = rng.standard_normal((len(source), dim)) * rng.uniform(0.0, 0.15, (len(source), 1))
    copies = l2_normalize((x[source] + noise / np.sqrt(dim)).astype(np.float32))
    return np.concatenate([ids, np.arange(n, n + len(source))]), np.concatenate([x, copies])


def decisions(spark: SparkSession, path: str):  # type: ignore[no-untyped-def]
    return spark.read.format("delta").load(f"{path}/decisions").orderBy("id").toPandas()


def test_rethreshold_reads_a_manifest_that_spelt_auto_k_as_zero() -> None:
    old = make_config("/in", "/old", semdedup=SEMDEDUP).to_dict()
    old["semdedup"]["kmeans"]["k"] = 0
    previous = {"config": old, "input": {"delta_version": 3}}
    cfg = rethreshold_config(previous, 0.1, "/new")
    assert cfg.semdedup.kmeans.k == "auto" and cfg.semdedup.eps == 0.1
    assert cfg.input.version == 3 and cfg.output.path == "/new"


def test_a_run_that_todays_checks_refuse_can_still_be_rethresholded() -> None:
    """An old run's own config is read as it ran (k-means then used fewer clusters than its
    sample allowed); a mistake in --set is still an error, and the manifest is not edited."""
    old = make_config("/in", "/old", semdedup=SEMDEDUP).to_dict()
    old["semdedup"]["kmeans"].update({"k": 20, "sample_size": 10})
    previous = {"config": old, "input": {"delta_version": 3}}
    cfg = rethreshold_config(previous, 0.1, "/new", ["dbp.tau=0.2"])
    assert cfg.semdedup.kmeans.sample_size == 10 and cfg.dbp.tau == 0.2
    assert old["dbp"]["tau"] == 0.1  # the manifest read is not changed by --set
    with pytest.raises(ConfigError, match=r"^dbp.tau: must be > 0"):
        rethreshold_config(previous, 0.1, "/new", ["dbp.tau=-1"])


def test_rethreshold_of_an_incremental_run_is_not_incremental() -> None:
    """Its stored results are at the pinned version already; the centroids the incremental
    run froze stay in ``kmeans.centroids_from``."""
    old = make_config("/in", "/old", semdedup=SEMDEDUP,
                      incremental={"previous_run": "/runs/a"}).to_dict()  # fmt: skip
    old["dbp"]["kmeans"]["centroids_from"] = "/runs/a"
    cfg = rethreshold_config({"config": old, "input": {"delta_version": 3}}, 0.1, "/new")
    assert cfg.incremental.previous_run is None and not cfg.incremental.from_output
    assert cfg.dbp.kmeans.centroids_from == "/runs/a"


def test_rethreshold_of_a_run_without_semdedup_is_a_run_error() -> None:
    previous = {"config": make_config("/in", "/old").to_dict(), "input": {"delta_version": 0}}
    with pytest.raises(UserError, match="did not run SemDeDup") as refused:
        rethreshold_config(previous, 0.1, "/new")
    assert refused.value.exit_code == EXIT_FAILURE  # the run does not fit (not a usage error)


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--eps", "5"], "--eps 5.0: must be in [0, 2) (a cosine distance)"),
        (["--eps", "0.1", "--set", "bogus=1"], "unknown key bogus; known keys here:"),
        (["--eps", "0.1", "--set", "dbp.tau=x"], "dbp.tau: expected a number, got 'x'"),
        (["--eps", "0.1", "--config", "a.yaml"], "unrecognized arguments: --config a.yaml"),
        (["--eps", "0.1", "--set", "semdedup.kmeans.k=20"], "--set semdedup.kmeans.k: rethreshold"),
    ],
)
def test_rethreshold_mistakes_are_one_line_before_spark(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], extra: list[str], message: str
) -> None:
    """--config was accepted and ignored; a bad --eps or --set waited for Spark's start-up."""
    argv = ["rethreshold", "--run", str(tmp_path / "missing"), "--output", str(tmp_path / "b")]
    try:
        code = main([*argv, *extra])
    except SystemExit as exc:  # argparse's own errors
        code = int(exc.code or 0)
    assert code == EXIT_USAGE
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("spark-prune: error: ") and message in err[0]


def test_semdedup_then_dbp_and_rethreshold(spark: SparkSession, tmp_path: Path) -> None:
    ids, x = with_near_duplicates(600, 16, seed=4)
    path = write_input(spark, tmp_path / "in", ids, x, partitions=3)
    kept = {"path": str(tmp_path / "eps002"), "keep_checkpoints": True}
    first = run(spark, make_config(path, "", semdedup=SEMDEDUP, output=kept))
    counts = first.counts
    assert first.manifest["config"]["semdedup"]["kmeans"]["k"] == "auto"
    assert first.manifest["semdedup"]["k"] == 8  # resolved: ceil(800 rows / 100 per cluster)
    assert counts["semdedup"] > 0 and counts["dbp"] > 0
    assert (
        counts["input"]
        == len(ids)
        == sum(counts[k] for k in ("kept", "invalid", "semdedup", "clip_score", "dbp"))
    )
    dec = decisions(spark, str(tmp_path / "eps002"))
    removed = dec[dec["reason"] == "semdedup"]
    assert (removed["semdedup_max_sim"] > 1 - 0.02).all()
    survivors = dec[dec["reason"] != "semdedup"]
    assert (survivors["semdedup_max_sim"].fillna(-1) <= 1 - 0.02).all()
    assert survivors["cluster_id"].notna().all() and removed["cluster_id"].isna().all()
    assert int(dec["kept"].sum()) == round(0.5 * len(survivors))

    fresh = run(
        spark, make_config(path, str(tmp_path / "fresh"), semdedup={**SEMDEDUP, "eps": 0.1})
    )
    assert (
        main(
            [
                "rethreshold",
                "--run",
                str(tmp_path / "eps002"),
                "--eps",
                "0.1",
                "--output",
                str(tmp_path / "rethresholded"),
            ]
        )
        == 0
    )
    again = decisions(spark, str(tmp_path / "rethresholded"))
    expected = decisions(spark, str(tmp_path / "fresh"))
    assert again.equals(expected)
    assert fresh.counts["semdedup"] > counts["semdedup"]
    doc = json.loads((tmp_path / "rethresholded" / "manifest.json").read_text())
    assert doc["semdedup"]["reused_from_previous_run"] and doc["config"]["semdedup"]["eps"] == 0.1
    # the first run kept its checkpoints: rethreshold read SemDeDup's own checkpoint
    checkpoint = tmp_path / "eps002" / "_stages" / "semdedup"
    assert doc["semdedup"]["reused_from"] == f"SemDeDup checkpoint {checkpoint}"
    assert doc["input"]["delta_version"] == first.manifest["input"]["delta_version"]


def test_keep_by_run_and_rethreshold(spark: SparkSession, tmp_path: Path) -> None:
    """keep_by through ``run`` (the column travels to SemDeDup) and ``rethreshold`` equal to a
    fresh run at the new eps, with the survivor of every removed pair the larger ``pixels``."""
    ids, x = with_near_duplicates(240, 8, seed=6)
    path = write_input(spark, tmp_path / "plain", ids, x, partitions=2)
    pixels = {
        int(i): int(v)
        for i, v in zip(ids, np.random.default_rng(6).integers(1, 99, len(ids)), strict=True)
    }
    table = spark.read.format("delta").load(path)
    extra = spark.createDataFrame(list(pixels.items()), "id long, pixels int")
    source = str(tmp_path / "in")
    table.join(extra, "id").write.format("delta").save(source)
    semdedup = {**SEMDEDUP, "keep_by": {"column": "pixels", "order": "desc"}}
    run(spark, make_config(source, str(tmp_path / "a"), semdedup=semdedup))
    fresh = make_config(source, str(tmp_path / "fresh"), semdedup={**semdedup, "eps": 0.1})
    run(spark, fresh)
    args = ["rethreshold", "--run", str(tmp_path / "a"), "--eps", "0.1"]
    assert main([*args, "--output", str(tmp_path / "b")]) == 0
    again, expected = (
        decisions(spark, str(tmp_path / "b")),
        decisions(spark, str(tmp_path / "fresh")),
    )
    assert again.equals(expected)
    removed = expected[expected["reason"] == "semdedup"]
    assert len(removed) > 0
    assert all(
        pixels[int(p)] >= pixels[int(i)]
        for i, p in zip(removed["id"], removed["semdedup_partner"], strict=True)
    )


def test_rethreshold_and_sql_find_a_run_by_its_own_manifest_path(
    spark: SparkSession, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    ids, x = with_near_duplicates(300, 16, seed=5)
    path = write_input(spark, tmp_path / "in", ids, x)
    cfg = make_config(path, str(tmp_path / "tables"), semdedup=SEMDEDUP)
    manifest_path = tmp_path / "elsewhere" / "r1.json"
    cfg = replace(cfg, output=replace(cfg.output, manifest_path=str(manifest_path)))
    first = run(spark, cfg)
    assert not (tmp_path / "tables" / "manifest.json").exists() and manifest_path.is_file()
    new_eps = ["--eps", "0.1", "--output", str(tmp_path / "again")]
    assert main(["rethreshold", "--run", str(manifest_path), *new_eps]) == 0
    again = json.loads((tmp_path / "again" / "manifest.json").read_text())
    assert again["semdedup"]["reused_from_previous_run"]
    assert again["semdedup"]["reused_from"].startswith(f"decisions of {manifest_path}")
    assert again["counts"]["semdedup"] >= first.counts["semdedup"]
    capsys.readouterr()
    assert (
        main(["sql", "--run", str(manifest_path), "SELECT count(*) AS rows_seen FROM pruned"]) == 0
    )
    assert f"|{first.counts['kept']}" in capsys.readouterr().out.replace(" ", "")


def test_rethreshold_of_an_embedding_run_reads_its_embeddings_cache(
    spark: SparkSession, tmp_path: Path
) -> None:
    """A run that embedded its images (the demo's shape): rethreshold embeds nothing again (every
    row is in the run's cache) and decides like a fresh run at the new eps on those embeddings."""
    pytest.importorskip("open_clip")
    from spark_prune.config_loader import load_config
    from spark_prune.demo.clipart import build_sample_lakehouse
    from tests.embed_fixtures import data_cache, offline_overrides

    lake = str(tmp_path / "clipart")
    build_sample_lakehouse(spark, data_cache(), lake, max_images=40)
    demo = Path(__file__).resolve().parents[1] / "conf" / "demo.yaml"
    sets = [f"input.path={lake}", *offline_overrides(), "embed.batch_size=16",
            "semdedup.rows_per_cluster=30", "dbp.kmeans.k=4", "spark.master=local[2]"]  # fmt: skip
    first = run(spark, load_config(demo, [*sets, f"output.path={tmp_path / 'a'}"]))
    cache = first.manifest["embed"]["cache_path"]
    argv = ["rethreshold", "--run", str(tmp_path / "a"), "--eps", "0.1"]
    assert main([*argv, "--output", str(tmp_path / "b")]) == 0
    again = json.loads((tmp_path / "b" / "manifest.json").read_text())
    assert again["embed"]["embedded"] == 0 and again["embed"]["reused"] == 40
    assert again["embed"]["cache_path"] == cache
    fresh_sets = [*sets, f"output.path={tmp_path / 'c'}", "semdedup.eps=0.1",
                  f"embed.cache_path={cache}"]  # fmt: skip
    run(spark, load_config(demo, fresh_sets))
    pd.testing.assert_frame_equal(
        decisions(spark, str(tmp_path / "b")), decisions(spark, str(tmp_path / "c"))
    )
