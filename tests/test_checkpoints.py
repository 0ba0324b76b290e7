"""The checkpoint store: rows, tables and report in one marked commit; a key mismatch or
``fresh`` is not loaded; ``clean`` removes them all."""

from __future__ import annotations

from pathlib import Path

from pyspark.sql import SparkSession

from spark_prune.checkpoints import STAGES_DIR, Checkpoint, Checkpoints


def test_save_load_mismatch_fresh_clean(spark: SparkSession, tmp_path: Path) -> None:
    rows = spark.createDataFrame([(1, False), (2, True)], "id long, _removed boolean")
    table = spark.createDataFrame([(0, 2)], "cluster_id int, size long")
    store = Checkpoints(spark, str(tmp_path), "run-1")
    saved = store.save("dbp", "key-a", Checkpoint(rows, {"target": 1}, {"clusters": table}))
    assert saved.rows.count() == 2 and saved.tables["clusters"].count() == 1

    again = Checkpoints(spark, str(tmp_path), "run-2")
    found = again.load("dbp", "key-a")
    assert found is not None and found.written_by == "run-1" and again.resumed == []
    again.resume("dbp", found)  # after the caller's checks (resume.py)
    assert again.resumed == ["dbp"]
    assert sorted(r["id"] for r in found.rows.collect()) == [1, 2]
    assert found.report == {"target": 1}
    assert found.tables["clusters"].first()["size"] == 2  # type: ignore[index]

    assert again.load("dbp", "key-b") is None  # other config or input
    assert again.load("semdedup", "key-a") is None  # never written
    assert Checkpoints(spark, str(tmp_path), "run-3", fresh=True).load("dbp", "key-a") is None

    again.clean()
    assert not (tmp_path / STAGES_DIR).exists()
