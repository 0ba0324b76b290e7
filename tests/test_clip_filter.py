"""The CLIP-score filter (clip_filter.py): the cosine against numpy, both cuts, null scores."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pyarrow as pa
import pytest
from pyspark.sql import SparkSession
from pyspark.sql import functions as F
from pyspark.sql import types as T

from spark_prune.clip_filter import clip_decisions, clip_scores, pairwise_cosine
from spark_prune.config import ClipFilterConfig
from spark_prune.pipeline import run
from tests.helpers import decisions, embedding_rows, make_config, write_input

SCORES = T.StructType(
    [T.StructField("id", T.LongType()), T.StructField("clip_score", T.DoubleType())]
)


def test_pairwise_cosine_matches_numpy_with_null_and_ragged_rows() -> None:
    rng = np.random.default_rng(0)
    a, b = rng.standard_normal((6, 4)), rng.standard_normal((6, 4))
    image = [list(r) for r in a] + [None, [1.0, 2.0], [], [0.0, 0.0], [1.0, 0.0, 0.0]]
    text = [list(r) for r in b] + [[1.0, 2.0], None, [], [1.0, 1.0], [2.0, 0.0, 0.0]]
    got = pairwise_cosine(pa.array(image, pa.list_(pa.float32())), pa.array(text))
    expected = np.einsum("ij,ij->i", a, b) / (np.linalg.norm(a, axis=1) * np.linalg.norm(b, axis=1))
    np.testing.assert_allclose(got[:6], expected, rtol=1e-6)
    assert np.isnan(got[6:10]).all()  # null, ragged vs null, empty, zero norm
    assert got[10] == 1.0  # a different (but matching) length is fine
    assert len(pairwise_cosine(pa.array([], pa.list_(pa.float32())), pa.array([]))) == 0


def test_clip_scores_on_spark_are_the_same_cosine(spark: SparkSession) -> None:
    rows = [(1, [1.0, 0.0], [1.0, 1.0]), (2, None, [1.0, 0.0]), (3, [0.0, 2.0], [0.0, -1.0])]
    df = spark.createDataFrame(rows, "id long, image_emb array<float>, text_emb array<float>")
    got = {r["id"]: r["clip_score"] for r in clip_scores(df, ClipFilterConfig(), "id").collect()}
    assert got[2] is None and got[3] == -1.0 and abs(got[1] - 2**-0.5) < 1e-7
    by_column = ClipFilterConfig(score_column="s")
    schema = clip_scores(df.withColumn("s", F.lit(1)), by_column, "id").schema
    assert [(f.name, f.dataType) for f in schema] == [(f.name, f.dataType) for f in SCORES]


def test_threshold_and_keep_fraction_cuts_break_ties_by_id(spark: SparkSession) -> None:
    values = [(1, 0.9), (2, 0.5), (3, 0.5), (4, 0.5), (5, 0.1), (6, None), (7, 0.3)]
    scores = spark.createDataFrame(values, SCORES).repartition(3)
    cut = ClipFilterConfig(enabled=True, threshold=0.5)
    removed = {r["id"]: r["clip_removed"] for r in clip_decisions(scores, cut, "id", 6).collect()}
    assert removed == {1: False, 2: False, 3: False, 4: False, 5: True, 6: None, 7: True}
    top = ClipFilterConfig(enabled=True, keep_fraction=0.5)  # keep 3 of the 6 scored rows
    got = {r["id"]: r["clip_removed"] for r in clip_decisions(scores, top, "id", 6).collect()}
    assert got == {1: False, 2: False, 3: False, 4: True, 5: True, 6: None, 7: True}


def test_clip_filter_threshold_and_null_scores(spark: SparkSession, tmp_path: Path) -> None:
    ids, x = embedding_rows(200, 8, 2, seed=3)
    path = write_input(spark, tmp_path / "in", ids, x)
    scored = (
        spark.read.format("delta")
        .load(path)
        .withColumn(
            "score", F.when(F.col("id") == 5, F.lit(None)).otherwise((F.col("id") % 10) / 10.0)
        )
    )
    scored.write.format("delta").mode("overwrite").option("overwriteSchema", "true").save(path)
    cfg = make_config(
        path,
        str(tmp_path / "out"),
        clip_filter={"enabled": True, "score_column": "score", "threshold": 0.3},
        dbp={"enabled": False},
    )
    result = run(spark, cfg)
    dec = decisions(spark, str(tmp_path / "out"))
    assert dec.loc[dec["id"] == 5, "reason"].item() == "invalid"
    assert dec.loc[dec["id"] == 5, "detail"].item() == "clip score is null"
    removed = set(dec.loc[dec["reason"] == "clip_score", "id"])
    assert removed == {i for i in range(200) if i % 10 < 3 and i != 5}
    assert result.counts["kept"] == 200 - len(removed) - 1
    top = make_config(
        path,
        str(tmp_path / "top"),
        clip_filter={"enabled": True, "score_column": "score", "keep_fraction": 0.25},
        dbp={"enabled": False},
    )
    assert run(spark, top).counts["kept"] == round(0.25 * 199)


def test_a_threshold_above_every_score_keeps_nothing_and_dbp_does_not_run(
    spark: SparkSession, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """Before: DBP's k-means met no rows and the run died with a traceback."""
    ids, x = embedding_rows(60, 8, 2, seed=4)
    path = write_input(spark, tmp_path / "in", ids, x)
    scored = spark.read.format("delta").load(path).withColumn("score", F.col("id") / 100.0)
    scored.write.format("delta").mode("overwrite").option("overwriteSchema", "true").save(path)
    clip = {"enabled": True, "score_column": "score", "threshold": 5.0}
    with caplog.at_level("WARNING", logger="spark_prune.pipeline"):
        result = run(spark, make_config(path, str(tmp_path / "out"), clip_filter=clip))
    assert result.counts["kept"] == 0 and result.counts["clip_score"] == 60
    assert "clip_filter left no row (60 in, 60 removed, 0 invalid)" in caplog.text
    assert set(decisions(spark, str(tmp_path / "out"))["reason"]) == {"clip_score"}
    assert spark.read.format("delta").load(str(tmp_path / "out" / "pruned")).count() == 0
