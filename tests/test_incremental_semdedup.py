"""The Spark side of the incremental SemDeDup update (incremental_semdedup.py): stored results
plus new rows give what SemDeDup computes from scratch on the final rows (the pipeline-level
check is tests/test_incremental.py)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pyarrow as pa
from pyspark.sql import SparkSession
from pyspark.sql import functions as F

from spark_prune import incremental_semdedup as iu
from spark_prune import semdedup as sd
from spark_prune.config import SemDedupConfig
from spark_prune.core.semdedup_update import NO_PARTNER, PARTNER_GONE

DIM = 6


def test_partner_ids_map_to_old_rows_only() -> None:
    ids = pa.array(["a", "b", "c", "d"])
    partners = pa.array([None, "a", "d", "zz"])  # "d" is new: a rewrite, not the partner
    rows = iu.partner_rows(ids, partners, np.array([False, False, False, True]))
    assert rows.tolist()[:3] == [NO_PARTNER, 0, PARTNER_GONE]
    rows = iu.partner_rows(ids, pa.array(["d", None, "a", "b"]), np.array([0, 0, 1, 0], bool))
    assert [rows[0], rows[1], rows[3]] == [3, NO_PARTNER, 1]  # row 2 is new: not looked at


def frame(spark: SparkSession, ids: np.ndarray, x: np.ndarray):  # type: ignore[no-untyped-def]
    rows = [(int(i), [float(v) for v in vec]) for i, vec in zip(ids, x, strict=True)]
    return spark.createDataFrame(rows, "id long, image_emb array<float>").repartition(2)


def test_update_equals_semdedup_on_the_final_rows(spark: SparkSession) -> None:
    rng = np.random.default_rng(4)
    x = rng.integers(0, 3, size=(60, DIM)).astype(np.float32) + np.eye(DIM, dtype=np.float32)[0]
    x[:, 3:] = 0  # dims 3 and 4 only for rows 37-39: a cluster of their own, no two alike
    angles = np.radians([0, 25, 50])
    x[37:40] = 0
    x[37:40, 3], x[37:40, 4] = np.cos(angles), np.sin(angles)
    x[40:] = x[:20]  # exact copies: rows 40.. are new, copying old rows
    ids = np.arange(60, dtype=np.int64) * 3
    cfg = SemDedupConfig(enabled=True, eps=0.05, block_size=4)
    centroids = sd.SemDedupCentroids(
        np.eye(DIM, dtype=np.float32)[:4], np.arange(4, dtype=np.int32), np.array([15] * 4), {}
    )
    old, _ = sd.semdedup(frame(spark, ids[:40], x[:40]), cfg, "id", "image_emb", DIM, 40, centroids)
    stored = old.toPandas()
    firsts = stored.loc[stored["semdedup_partner"].isna(), "id"]
    top_partner = stored["semdedup_partner"].dropna().astype(int).value_counts().index[0]
    gone = {int(firsts.iloc[0]), int(top_partner)}  # a first row and a popular partner
    kept = [int(i) for i in ids[:40] if int(i) not in gone]
    survivors = old.filter(F.col("id").isin(kept))
    final = np.isin(ids, kept) | (np.arange(60) >= 40)
    now = sd.assign(frame(spark, ids[final], x[final]), centroids, cfg, "id", "image_emb", DIM)
    entries = iu.stored_entries(survivors, "id")
    updated = iu.update_clusters(now, entries, "id", DIM, cfg).persist()
    work = iu.work_done(updated)
    got = updated.drop(iu.IN_FULL, iu.TOUCHED).toPandas().sort_values("id").reset_index(drop=True)
    updated.unpersist()
    old.unpersist()
    n = int(final.sum())
    full, _ = sd.semdedup(
        frame(spark, ids[final], x[final]), cfg, "id", "image_emb", DIM, n, centroids
    )
    want = full.toPandas().sort_values("id").reset_index(drop=True)
    full.unpersist()
    pd.testing.assert_frame_equal(got, want)
    orphan = stored["semdedup_partner"].isin(list(gone)) & stored["id"].isin(kept)
    orphans, orphan_ids = int(orphan.sum()), stored.loc[orphan, "id"]
    assert orphans > 0 and work["rows_computed_in_full"] == 20 + orphans
    changed = np.isin(got["id"], ids[40:]) | got["id"].isin(orphan_ids)
    touched = set(got.loc[changed, "semdedup_cluster_id"])
    in_touched = int(got["semdedup_cluster_id"].isin(touched).sum())
    assert work["clusters_recomputed"] == len(touched) < got["semdedup_cluster_id"].nunique()
    assert (work["rows_recomputed"], work["rows_reused"]) == (in_touched, n - in_touched)
    assert work["rows_computed_against_new_rows"] == in_touched - 20 - orphans
    assert (got["semdedup_max_sim"] > 1 - cfg.eps).sum() >= 18  # copies found


def _group(ids: list[int], entry_ids: list[int], partners: list[int | None]) -> pa.Table:
    """A cluster's group as the update receives it: rows (embeddings) then stored entries."""
    x = np.eye(3, dtype=np.float32)[np.arange(len(ids)) % 3] + 0.01
    n, m = len(ids), len(entry_ids)
    return pa.table(
        {
            "id": pa.array(ids + entry_ids, pa.int64()),
            sd.CLUSTER_COL: pa.array([0] * (n + m), pa.int32()),
            sd.DIST_COL: pa.array([0.1 * (i + 1) for i in range(n)] + [None] * m),
            sd.EMB_BYTES: pa.array([r.tobytes() for r in x] + [None] * m, pa.binary()),
            iu.STORED_ENTRY: pa.array([None] * n + [True] * m),
            iu.STORED_MAX_SIM: pa.array([None] * n + [0.5] * m),
            iu.STORED_PARTNER: pa.array([None] * n + partners, pa.int64()),
        }
    )


def test_rows_meet_their_stored_entries_by_id() -> None:
    table, is_new, sims, partners = iu.match_stored(
        _group([5, 6, 7], [7, 5, 99], [5, None, 6]), "id"
    )
    assert table.column("id").to_pylist() == [5, 6, 7]
    assert is_new.tolist() == [False, True, False]
    assert sims[[0, 2]].tolist() == [0.5, 0.5] and np.isnan(sims[1])
    assert partners.to_pylist() == [None, None, 5]


def test_a_cluster_without_changes_is_not_touched_and_one_without_rows_is_empty() -> None:
    process = iu.update_function("id", 3, SemDedupConfig(enabled=True, eps=0.05))
    same = process(_group([1, 2], [1, 2], [None, None])).to_pandas()
    assert not same[iu.TOUCHED].any() and not same[iu.IN_FULL].any()
    assert process(_group([], [1, 2], [None, 1])).num_rows == 0
