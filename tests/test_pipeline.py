"""The DBP pipeline end to end on a real local Spark with real Delta tables."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
from pyspark.sql import SparkSession

from spark_prune.cli import main
from spark_prune.config_loader import config_from_dict
from spark_prune.core.quotas import InfeasibleTargetError
from spark_prune.io import OutputExistsError
from spark_prune.pipeline import run
from spark_prune.runs import open_run
from spark_prune.validate import InputError
from tests import reference
from tests.helpers import K, N, clusters, decisions, embedding_rows, make_config, write_input

pytestmark = pytest.mark.slow  # run first under xdist (tests/conftest.py)


@pytest.fixture(scope="module")
def baseline(spark: SparkSession, input_path: str, tmp_path_factory):  # type: ignore[no-untyped-def]
    out = tmp_path_factory.mktemp("out") / "run"
    return run(spark, make_config(input_path, str(out)))


def test_matches_plain_numpy_reference(spark: SparkSession, data, baseline) -> None:  # type: ignore[no-untyped-def]
    ids, x = data
    out = baseline.output.cfg.path
    cl = clusters(spark, out)
    centroids = np.array(cl["centroid"].tolist(), dtype=np.float32)
    ref = reference.dbp(ids, x, centroids, keep=N // 2, tau=0.1, neighbours=20)
    dec = decisions(spark, out)
    cluster_ids = cl["cluster_id"].to_numpy()
    np.testing.assert_array_equal(dec["cluster_id"].to_numpy(), cluster_ids[ref["cluster"]])
    np.testing.assert_allclose(dec["dist"].to_numpy(), ref["dist"], atol=1e-6)
    np.testing.assert_array_equal(cl["size"].to_numpy(), ref["size"])
    np.testing.assert_allclose(cl["d_intra"].to_numpy(), ref["d_intra"], atol=1e-7)
    np.testing.assert_allclose(cl["d_inter"].to_numpy(), ref["d_inter"], atol=1e-6)
    np.testing.assert_allclose(cl["complexity"].to_numpy(), ref["complexity"], atol=1e-7)
    np.testing.assert_allclose(cl["p"].to_numpy(), ref["p"], rtol=1e-5)
    np.testing.assert_array_equal(cl["quota"].to_numpy(), ref["quota"])
    assert sorted(dec.loc[dec["kept"], "id"].tolist()) == ref["kept"]
    assert int(cl["quota"].sum()) == N // 2 and (cl["kept"] == cl["quota"]).all()


def test_rank_in_cluster_is_by_distance(spark: SparkSession, baseline) -> None:  # type: ignore[no-untyped-def]
    dec = decisions(spark, baseline.output.cfg.path)
    for _, group in dec.groupby("cluster_id"):
        ordered = group.sort_values(["dist", "id"], ascending=[False, True])
        assert ordered["rank_in_cluster"].tolist() == list(range(len(group)))
        kept = group["kept"].sum()
        assert set(group.loc[group["kept"], "rank_in_cluster"]) == set(range(kept))


def test_outputs_contract_and_manifest(spark: SparkSession, baseline, input_path: str) -> None:  # type: ignore[no-untyped-def]
    out = baseline.output.cfg.path
    doc = json.loads(Path(out, "manifest.json").read_text())
    assert doc["run_id"] == baseline.run_id
    assert doc["input"]["delta_version"] == 0 and doc["input"]["path"] == input_path
    counts = doc["counts"]
    assert counts["input"] == N and counts["kept"] == N // 2
    assert counts["input"] == counts["kept"] + sum(
        counts[r] for r in ("invalid", "semdedup", "clip_score", "dbp")
    )
    assert doc["config"]["dbp"]["tau"] == 0.1 and doc["kmeans"]["dbp"]["k"] == K
    pruned = spark.read.format("delta").load(f"{out}/pruned")
    source = spark.read.format("delta").load(input_path)
    assert pruned.columns == source.columns
    kept_ids = spark.read.format("delta").load(f"{out}/decisions").filter("kept").select("id")
    assert pruned.select("id").exceptAll(kept_ids).count() == 0 and pruned.count() == N // 2
    assert pruned.exceptAll(source.join(kept_ids, "id", "left_semi")).count() == 0
    history = spark.sql(f"DESCRIBE HISTORY delta.`{out}/pruned`").collect()[0]
    meta = json.loads(history["userMetadata"])
    assert meta["run_id"] == baseline.run_id and meta["counts"]["kept"] == N // 2
    assert doc["outputs"]["pruned"]["delta_version"] == history["version"]


def test_same_kept_ids_for_any_partitioning_and_on_rerun(  # type: ignore[no-untyped-def]
    spark: SparkSession, data, baseline, tmp_path: Path
) -> None:
    ids, x = data
    expected = decisions(spark, baseline.output.cfg.path)
    for partitions in (1, 8):
        path = write_input(spark, tmp_path / f"in{partitions}", ids, x, partitions=partitions)
        result = run(spark, make_config(path, str(tmp_path / f"out{partitions}")))
        got = decisions(spark, result.output.cfg.path)
        assert got.drop(columns=[]).equals(expected), f"{partitions} partitions differ"
    rerun = run(spark, make_config(baseline.manifest["input"]["path"], str(tmp_path / "rerun")))
    assert decisions(spark, rerun.output.cfg.path).equals(expected)


@pytest.mark.parametrize(
    ("change", "error", "message"),
    [
        ({"input": {"embedding_column": "nope"}}, InputError, "embedding column 'nope' not found"),
        ({"input": {"embedding_column": "caption"}}, InputError, "must be array<float>"),
        ({"dbp": {"keep_count": 2, "keep_fraction": None}}, InfeasibleTargetError, "below the"),
        ({"dbp": {"keep_count": 10**6, "keep_fraction": None}}, InfeasibleTargetError, "exceeds"),
    ],
)
def test_bad_input_is_a_clear_error(  # type: ignore[no-untyped-def]
    spark: SparkSession, input_path: str, tmp_path: Path, change, error, message
) -> None:
    cfg = make_config(input_path, str(tmp_path / "out"), **change)
    with pytest.raises(error, match=message):
        run(spark, cfg)


def test_duplicate_ids_and_existing_output_fail_fast(
    spark: SparkSession, baseline, tmp_path: Path
) -> None:  # type: ignore[no-untyped-def]
    ids, x = embedding_rows(50, 4, 2, seed=0)
    ids[7] = ids[3]
    path = write_input(spark, tmp_path / "dupes", ids, x)
    with pytest.raises(InputError, match=r"duplicate ids, e.g. 3 \(x2\)"):
        run(spark, make_config(path, str(tmp_path / "out")))
    with pytest.raises(OutputExistsError, match="output.mode=overwrite"):
        run(spark, make_config(baseline.manifest["input"]["path"], baseline.output.cfg.path))


def test_interop_with_delta_rs(spark: SparkSession, tmp_path: Path) -> None:
    import pyarrow as pa
    from deltalake import DeltaTable, write_deltalake

    from spark_prune.core.vectors import matrix_to_arrow_list

    ids, x = embedding_rows(300, 8, 3, seed=5)
    table = pa.table(
        {
            "id": pa.array(ids),
            "image_emb": matrix_to_arrow_list(x),
            "caption": pa.array([f"c{i}" for i in ids]),
        }
    )
    write_deltalake(str(tmp_path / "in"), table)
    cfg = config_from_dict(
        {
            "input": {"path": str(tmp_path / "in")},
            "output": {"path": str(tmp_path / "out")},
            "dbp": {"keep_fraction": 0.4, "kmeans": {"k": 3, "iterations": 10}},
        }
    )
    result = run(spark, cfg)
    pruned = DeltaTable(str(tmp_path / "out" / "pruned")).to_pyarrow_table()
    dec = DeltaTable(str(tmp_path / "out" / "decisions")).to_pyarrow_table()
    assert pruned.num_rows == 120 == result.counts["kept"]
    assert dec.num_rows == 300
    kept = {
        i
        for i, k in zip(dec.column("id").to_pylist(), dec.column("kept").to_pylist(), strict=True)
        if k
    }
    assert set(pruned.column("id").to_pylist()) == kept
    assert pruned.schema.field("image_emb").type == pa.list_(pa.float32())


def test_catalog_schema_output(
    spark: SparkSession, input_path: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    spark.sql("CREATE DATABASE IF NOT EXISTS prune_catalog_test")
    cfg = config_from_dict(
        {
            "input": {"path": input_path},
            "output": {
                "catalog_schema": "prune_catalog_test",
                "manifest_path": str(tmp_path / "manifest.json"),
            },
            "dbp": {
                "strategy": "uniform",
                "keep_fraction": 0.2,
                "kmeans": {"k": 4, "iterations": 5},
            },
        }
    )
    result = run(spark, cfg)
    kept = spark.sql("SELECT count(*) AS n FROM prune_catalog_test.decisions WHERE kept")
    assert kept.collect()[0]["n"] == round(0.2 * N) == result.counts["kept"]
    assert spark.table("prune_catalog_test.pruned").count() == result.counts["kept"]
    doc = json.loads((tmp_path / "manifest.json").read_text())
    assert doc["outputs"]["clusters"]["location"] == "prune_catalog_test.clusters"
    query = "SELECT count(*) AS n_kept_rows FROM decisions WHERE kept"
    capsys.readouterr()
    assert main(["sql", "--run", str(tmp_path / "manifest.json"), query]) == 0
    shown = capsys.readouterr().out
    assert "n_kept_rows" in shown and f"|{result.counts['kept']}" in shown.replace(" ", "")
    with pytest.raises(OutputExistsError, match="prune_catalog_test"):
        run(spark, cfg)


def test_relative_paths_resolve_against_the_current_directory(
    spark: SparkSession, input_path: str, baseline, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.chdir(tmp_path)
    shutil.copytree(input_path, tmp_path / "lake" / "in")
    result = run(spark, make_config("lake/in", "runs/r1"))
    doc = json.loads((tmp_path / "runs" / "r1" / "manifest.json").read_text())
    assert doc["config"]["input"]["path"] == str(tmp_path / "lake" / "in")
    assert doc["outputs"]["decisions"]["delta_version"] == 0
    assert result.counts == baseline.counts


def test_an_overwritten_run_stays_readable(
    spark: SparkSession, input_path: str, tmp_path: Path
) -> None:
    """``output.mode=overwrite`` keeps the replaced run's manifest under ``_previous_runs/``;
    ``open_run`` of it reads that run's tables at their old versions."""
    first = run(spark, make_config(input_path, str(tmp_path / "out"), dbp={"keep_fraction": 0.2}))
    assert "replaced_manifest" not in first.manifest
    again = make_config(input_path, str(tmp_path / "out"), dbp={"keep_fraction": 0.6},
                        output={"mode": "overwrite"})  # fmt: skip
    second = run(spark, again)
    kept = second.manifest["replaced_manifest"]
    assert kept == str(tmp_path / "out" / "_previous_runs" / f"{first.run_id}.json")
    replaced = open_run(spark, kept)
    assert replaced.run_id == first.run_id
    old_kept = replaced.table("decisions").filter("kept").count()
    assert old_kept == first.counts["kept"] != second.counts["kept"]
