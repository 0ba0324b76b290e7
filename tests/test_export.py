"""Export: DataComp's subset file and the ids Parquet, read back and compared to the kept ids."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from pyspark.sql import SparkSession

from spark_prune.cli import main
from spark_prune.config_loader import config_from_dict
from spark_prune.errors import EXIT_FAILURE, EXIT_USAGE
from spark_prune.export import (
    UID_DTYPE,
    ExportError,
    check_export_target,
    export_run,
    prefix_groups,
    write_datacomp_subset,
    write_ids,
)
from spark_prune.pipeline import run
from tests.shard_fixtures import Layout, datacomp_dir


def reference_subset(uids: list[str]) -> np.ndarray:
    """DataComp's documented construction: int(uid[:16], 16), int(uid[16:32], 16), sorted."""
    pairs = np.array([(int(u[:16], 16), int(u[16:32], 16)) for u in uids], np.dtype("u8,u8"))
    pairs.sort()
    return pairs


@pytest.fixture(scope="module")
def datacomp_run(spark: SparkSession, tmp_path_factory: pytest.TempPathFactory) -> tuple:
    root = tmp_path_factory.mktemp("export")
    layout = datacomp_dir(root / "metadata", shard_rows=(20, 24))
    cfg = config_from_dict(
        {
            "input": {"path": str(layout.path), "format": "datacomp", "id_column": "uid"},
            "output": {"path": str(root / "run")},
            "dbp": {"keep_fraction": 0.5, "kmeans": {"k": 3, "iterations": 10}},
        }
    )
    run(spark, cfg)
    decisions = spark.read.format("delta").load(str(root / "run" / "decisions"))
    kept = [r["uid"] for r in decisions.filter("kept").select("uid").collect()]
    assert len(kept) == 22
    return layout, str(root / "run"), kept


def test_datacomp_subset_equals_kept_uids(
    spark: SparkSession, datacomp_run: tuple[Layout, str, list[str]], tmp_path: Path
) -> None:
    _, run_path, kept = datacomp_run
    out = tmp_path / "subset.npy"
    assert (
        main(["export", "--run", run_path, "--format", "datacomp-subset", "--out", str(out)]) == 0
    )
    subset = np.load(out)
    assert subset.dtype == np.dtype("u8,u8") and subset.shape == (len(kept),)
    np.testing.assert_array_equal(subset, reference_subset(kept))
    hexes = [f"{a:016x}{b:016x}" for a, b in subset.tolist()]
    assert hexes == sorted(kept)  # lexicographic uid order, strictly increasing
    assert len(set(hexes)) == len(hexes)
    # the same file from many small prefix groups
    decisions = spark.read.format("delta").load(f"{run_path}/decisions")
    small = tmp_path / "small.npy"
    n = write_datacomp_subset(decisions.filter("kept"), "uid", str(small), batch_rows=3)
    assert n == len(kept) and small.read_bytes() == out.read_bytes()
    assert (
        main(["export", "--run", run_path, "--format", "datacomp-subset", "--out", str(out)])
        == EXIT_FAILURE  # an existing --out, like an existing run
    )


def test_ids_parquet_equals_kept_ids(
    spark: SparkSession, datacomp_run: tuple[Layout, str, list[str]], tmp_path: Path
) -> None:
    _, run_path, kept = datacomp_run
    out = tmp_path / "ids"
    assert export_run(spark, run_path, "ids", str(out)) == len(kept)
    rows = spark.read.parquet(str(out)).collect()
    assert sorted(r["uid"] for r in rows) == sorted(kept)
    assert set(rows[0].asDict()) == {"uid", "url", "text"}
    assert all(r["url"] == f"https://example.com/{r['uid']}.jpg" for r in rows)
    with pytest.raises(ExportError, match="exists; pass --overwrite") as exists:
        export_run(spark, run_path, "ids", str(out))
    assert exists.value.exit_code == EXIT_FAILURE  # like an existing run (output.mode: error)
    assert export_run(spark, run_path, "ids", str(out), overwrite=True) == len(kept)


def test_an_export_never_overwrites_the_run_it_reads(
    spark: SparkSession, datacomp_run: tuple[Layout, str, list[str]]
) -> None:
    """``--out`` onto the run's directory, a folder holding it, or inside one of its tables
    is refused before anything is written, even with ``--overwrite``."""
    _, run_path, _ = datacomp_run
    before = sorted(p.name for p in Path(run_path).iterdir())
    for out in (run_path, str(Path(run_path).parent), f"{run_path}/pruned/ids"):
        with pytest.raises(ExportError, match="would overwrite") as refused:
            export_run(spark, run_path, "ids", out, overwrite=True)
        assert refused.value.exit_code == EXIT_FAILURE
    manifest = f"{run_path}/manifest.json"
    with pytest.raises(ExportError, match="would overwrite the run's directory"):
        export_run(spark, manifest, "ids", run_path, overwrite=True)
    assert sorted(p.name for p in Path(run_path).iterdir()) == before


def test_export_target_mistakes_are_found_before_spark_starts(tmp_path: Path) -> None:
    (tmp_path / "taken.npy").write_bytes(b"")
    (tmp_path / "taken").mkdir()
    cases = [
        ("datacomp-subset", "taken.npy", "exists; pass --overwrite"),
        ("datacomp-subset", "subset.txt", "must end in .npy"),
        ("datacomp-subset", "s3://bucket/subset.npy", "one local file"),
        ("ids", "taken", "exists; pass --overwrite"),
        ("webdataset", "x", "must be one of"),
    ]
    for fmt, out, message in cases:
        target = out if "://" in out else str(tmp_path / out)
        with pytest.raises(ExportError, match=message):
            check_export_target(fmt, target, overwrite=False)
    check_export_target("ids", str(tmp_path / "taken"), overwrite=True)


def test_ids_carry_laion_url_and_caption(spark: SparkSession, tmp_path: Path) -> None:
    """clip-retrieval / LAION runs: the kept ids with their url and caption, nothing else."""
    pruned = spark.createDataFrame(
        [(k, f"https://x/{k}.jpg", f"caption {k}", 0.5) for k in (1, 2, 3)],
        "key long, url string, caption string, similarity double",
    )
    kept = spark.createDataFrame([(1,), (3,)], "key long")
    out = tmp_path / "laion_ids"
    assert write_ids(kept, pruned, "key", str(out)) == 2
    rows = sorted(spark.read.parquet(str(out)).collect(), key=lambda r: r["key"])
    assert [r.asDict() for r in rows] == [
        {"key": k, "url": f"https://x/{k}.jpg", "caption": f"caption {k}"} for k in (1, 3)
    ]


def test_uid_bits_at_the_uint64_edges(spark: SparkSession, tmp_path: Path) -> None:
    uids = [
        "ffffffffffffffff0000000000000000",
        "8000000000000000ffffffffffffffff",
        "7FFFFFFFFFFFFFFF8000000000000001",  # upper case is the same uid
        "00000000000000000000000000000000",
    ]
    frame = spark.createDataFrame([(u,) for u in uids], "uid string")
    out = tmp_path / "edges.npy"
    assert write_datacomp_subset(frame, "uid", str(out)) == 4
    np.testing.assert_array_equal(np.load(out), reference_subset([u.lower() for u in uids]))


def test_non_datacomp_ids_are_a_clear_error(spark: SparkSession, tmp_path: Path) -> None:
    frame = spark.createDataFrame([(1,), (2,)], "id long")
    with pytest.raises(ExportError, match=r"2 kept ids in column 'id' are not 32-hex") as data:
        write_datacomp_subset(frame, "id", str(tmp_path / "x.npy"))
    assert data.value.exit_code == EXIT_FAILURE  # the data does not fit (exit 1)
    with pytest.raises(ExportError, match=r"must end in .npy") as usage:
        write_datacomp_subset(frame, "id", str(tmp_path / "x.bin"))
    assert usage.value.exit_code == EXIT_USAGE  # the command line is wrong in itself (exit 2)
    with pytest.raises(ExportError, match=r"one local file"):
        write_datacomp_subset(frame, "id", "s3://bucket/x.npy")
    assert not (tmp_path / "x.npy").exists()


def test_prefix_groups() -> None:
    counts = {0: 5, 1: 5, 7: 2, 200: 12, 255: 1}
    assert prefix_groups(counts, 10) == [(0, 6, 10), (7, 199, 2), (200, 200, 12), (201, 255, 1)]
    assert prefix_groups({}, 10) == []
    assert np.dtype([("f0", "<u8"), ("f1", "<u8")]) == UID_DTYPE
