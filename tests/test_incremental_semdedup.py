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
    x[40:] = x[:20]  # exact copies: rows 40.. are new, copying old rows
    ids = np.arange(60, dtype=np.int64) * 3
    cfg = SemDedupConfig(enabled=True, eps=0.05, block_size=4)
    centroids = sd.SemDedupCentroids(
        np.eye(DIM, dtype=np.float32)[:2], np.array([0, 1], np.int32), np.array([30, 30]), {}
    )
    old, _ = sd.semdedup(frame(spark, ids[:40], x[:40]), cfg, "id", "image_emb", DIM, 40, centroids)
    stored = old.toPandas()
    firsts = stored.loc[stored["semdedup_partner"].isna(), "id"]
    top_partner = stored["semdedup_partner"].dropna().astype(int).value_counts().index[0]
    gone = {int(firsts.iloc[0]), int(top_partner)}  # a first row and a popular partner
    kept = [int(i) for i in ids[:40] if int(i) not in gone]
    survivors = old.filter(F.col("id").isin(kept))
    old_rows = frame(spark, np.array(kept), x[:40][np.isin(ids[:40], kept)])
    old_rows = old_rows.join(iu.with_stored(survivors, "id"), "id")
    new_rows = sd.assign(frame(spark, ids[40:], x[40:]), centroids, cfg, "id", "image_emb", DIM)
    assigned = iu.as_new(new_rows, "id").unionByName(
        sd.assign(old_rows, centroids, cfg, "id", "image_emb", DIM, iu.STORED)
    )
    updated, work = iu.update_clusters(assigned, "id", DIM, cfg)
    got = updated.drop(iu.IN_FULL).toPandas().sort_values("id").reset_index(drop=True)
    updated.unpersist()
    old.unpersist()
    final = np.isin(ids, kept) | (np.arange(60) >= 40)
    n = int(final.sum())
    full, _ = sd.semdedup(
        frame(spark, ids[final], x[final]), cfg, "id", "image_emb", DIM, n, centroids
    )
    want = full.toPandas().sort_values("id").reset_index(drop=True)
    full.unpersist()
    pd.testing.assert_frame_equal(got, want)
    orphans = int((stored["semdedup_partner"].isin(list(gone)) & stored["id"].isin(kept)).sum())
    assert orphans > 0 and work["rows_computed_in_full"] == 20 + orphans
    assert work["rows_computed_against_new_rows"] == len(kept) - orphans
    assert (got["semdedup_max_sim"] > 1 - cfg.eps).sum() >= 18  # copies found
