"""The embedding stage (embed/stage.py) with the real offline open_clip model on real photos:
partition-independent embeddings, per-row reasons, the Delta cache (only new rows embedded,
idempotent appends). Tests that need the model take the ``checkpoint`` fixture (skipped
without torch/open_clip); the cache's append needs no model."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest
from pyspark.sql import SparkSession

from spark_prune.embed import embed
from spark_prune.embed.stage import append_once, append_transaction
from spark_prune.lake import DeltaLocation
from tests.embed_fixtures import (
    CAPTIONS,
    PHOTO_SCHEMA,
    embed_config,
    jpeg,
    photo_frame,
    photos,
    vectors,
)

pytestmark = pytest.mark.slow  # run first under xdist (tests/conftest.py)


@pytest.fixture(scope="module")
def by_partitions(
    spark: SparkSession, checkpoint: Path, variants: list[tuple[str, str, bytes]]
) -> dict[int, list[Any]]:
    """The same six photos embedded (no cache) with 1 and with 3 partitions."""
    cfg = embed_config(checkpoint, batch_size=2)
    out = {}
    for parts in (1, 3):
        df, _ = embed(spark, photo_frame(spark, variants).repartition(parts), cfg, "id")
        out[parts] = sorted(df.collect(), key=lambda r: r["id"])
    return out


def test_copies_of_a_photo_are_nearer_than_other_photos(
    by_partitions: dict[int, list[Any]], variants: list[tuple[str, str, bytes]]
) -> None:
    rows = by_partitions[1]
    x = np.array([r["image_emb"] for r in rows], dtype=np.float32)
    np.testing.assert_allclose(np.linalg.norm(x, axis=1), 1.0, atol=1e-5)
    sims = x @ x.T
    families = np.array([family for _, family, _ in variants])
    for i in range(len(rows)):
        same = (families == families[i]) & (np.arange(len(rows)) != i)
        other = families != families[i]
        assert sims[i, same].min() > sims[i, other].max() + 0.3, (variants[i][0], sims[i])
    assert all(r["embed_error"] is None for r in rows)
    # both towers ran: clip_score is the cosine of the two (meaningless for this model, see docs)
    t = np.array([r["text_emb"] for r in rows], dtype=np.float32)
    np.testing.assert_allclose([r["clip_score"] for r in rows], (x * t).sum(1), atol=1e-5)


def test_identical_embeddings_for_1_and_3_partitions(by_partitions: dict[int, list[Any]]) -> None:
    one, three = by_partitions[1], by_partitions[3]
    for a, b in zip(one, three, strict=True):
        assert a["id"] == b["id"]
        assert a["image_emb"] == b["image_emb"]  # bitwise
        assert a["text_emb"] == b["text_emb"]
        assert a["clip_score"] == b["clip_score"]


def test_bad_rows_get_a_reason_and_leave_their_batch_alone(
    spark: SparkSession, checkpoint: Path, variants: list[tuple[str, str, bytes]]
) -> None:
    good = [(i, name, data, CAPTIONS[family]) for i, (name, family, data) in enumerate(variants)]
    bad = [
        (100, "corrupt", b"\xff\xd8\xff not really a jpeg", "a broken file"),
        (101, "empty", b"", "an empty file"),
        (102, "no-caption", jpeg(photos()[0].rotate(90, expand=True)), None),
        (103, "null-image", None, ""),
    ]
    mixed = good[:2] + bad[:1] + good[2:4] + bad[1:] + good[4:]  # bad rows share batches
    cfg = embed_config(checkpoint, batch_size=4)
    clean, _ = embed(spark, spark.createDataFrame(good, PHOTO_SCHEMA).coalesce(1), cfg, "id")
    dirty, _ = embed(spark, spark.createDataFrame(mixed, PHOTO_SCHEMA).coalesce(1), cfg, "id")
    rows = {r["id"]: r for r in dirty.collect()}
    assert rows[100]["embed_error"] == "image: cannot decode (UnidentifiedImageError)"
    assert rows[101]["embed_error"] == "image: empty"
    assert rows[102]["embed_error"] == "text: null caption"
    assert rows[103]["embed_error"] == "image: null; text: empty caption"
    assert rows[100]["image_emb"] is None and rows[100]["clip_score"] is None
    assert rows[100]["text_emb"] is not None  # the caption of a corrupt image is still embedded
    assert rows[102]["image_emb"] is not None and rows[102]["text_emb"] is None
    reference = {r["id"]: r for r in clean.collect()}
    for i, row in reference.items():
        assert row["embed_error"] is None
        assert rows[i]["image_emb"] == row["image_emb"]
        assert rows[i]["text_emb"] == row["text_emb"]


def test_rerun_after_append_embeds_only_new_rows(
    spark: SparkSession, checkpoint: Path, variants: list[tuple[str, str, bytes]], tmp_path: Path
) -> None:
    cache = str(tmp_path / "embeddings")
    cfg = embed_config(checkpoint, batch_size=4, cache_path=cache)
    first = photo_frame(spark, variants[:4])
    out1, info1 = embed(spark, first, cfg, "id")
    assert (info1["embedded"], info1["reused"], info1["rows"]) == (4, 0, 4)
    before = vectors(out1)

    appended = photo_frame(spark, variants)  # ids 0..5: two new rows
    out2, info2 = embed(spark, appended, cfg, "id")
    assert (info2["embedded"], info2["reused"], info2["rows"]) == (2, 4, 6)
    after = vectors(out2)
    assert all(np.array_equal(before[i], after[i]) for i in before)  # type: ignore[arg-type]
    assert out2.count() == 6 and out2.filter("image_emb IS NULL").count() == 0
    assert set(out2.columns) == {
        *appended.columns,
        "image_emb",
        "text_emb",
        "clip_score",
        "embed_error",
    }

    _, info3 = embed(spark, appended, cfg, "id")
    assert (info3["embedded"], info3["reused"]) == (0, 6)
    assert info3["cache_version"] == info2["cache_version"]  # nothing written
    stored = spark.read.format("delta").load(cache)
    assert stored.count() == 6 and stored.select("embed_key").distinct().count() == 1

    other_model = embed_config(checkpoint, batch_size=4, cache_path=cache, text_column=None)
    _, info4 = embed(spark, first, other_model, "id")  # other inputs: a new cache key
    assert (info4["embedded"], info4["reused"]) == (4, 0)


def test_path_images_and_retry_of_unreadable_files(
    spark: SparkSession, checkpoint: Path, variants: list[tuple[str, str, bytes]], tmp_path: Path
) -> None:
    folder = tmp_path / "images"
    folder.mkdir()
    rows = []
    for i, (name, _, data) in enumerate(variants[:3]):
        path = folder / f"{name}.img"
        if i != 1:  # the second file is missing at first
            path.write_bytes(data)
        rows.append((i, str(path) if i != 2 else path.as_uri()))
    df = spark.createDataFrame(rows, "id long, path string")
    cfg = embed_config(
        checkpoint,
        image_column="path",
        image_kind="path",
        text_column=None,
        image_emb_column="vec",
        cache_path=str(tmp_path / "cache"),
    )
    out, info = embed(spark, df, cfg, "id")
    errors = {r["id"]: r["embed_error"] for r in out.collect()}
    assert errors == {0: None, 1: "image: cannot read (FileNotFoundError)", 2: None}
    assert out.columns == ["id", "path", "vec", "embed_error"]

    (folder / f"{variants[1][0]}.img").write_bytes(variants[1][2])
    out, info = embed(spark, df, cfg, "id")
    assert (info["embedded"], info["reused"]) == (1, 2)  # only the failed read is retried
    emb = vectors(out, "vec")
    china, flipped = emb[0], emb[1]
    assert china is not None and flipped is not None and emb[2] is not None
    assert float(china @ flipped) > 0.9  # a photo and its flipped copy


def test_a_repeated_append_is_skipped(spark: SparkSession, tmp_path: Path) -> None:
    cache = DeltaLocation(str(tmp_path / "embeddings"))
    rows = spark.createDataFrame([(i, "k") for i in range(5)], "id long, embed_key string")
    more = spark.createDataFrame([(i, "k") for i in range(5, 8)], "id long, embed_key string")
    meta = {"spark_prune": "embed"}

    first = append_transaction("k", "/lake/t@3", None)  # a new cache
    assert append_once(spark, cache, rows, meta, first) == 5
    assert append_once(spark, cache, rows, meta, first) == 0  # the retried step: skipped
    assert cache.read(spark).count() == 5 and cache.latest_version(spark) == 0

    # the next real append computed its missing rows against version 0: a larger txnVersion
    second = append_transaction("k", "/lake/t@3", cache.latest_version(spark))
    assert second[0] == first[0] and second[1] > first[1]
    assert append_once(spark, cache, more, meta, second) == 3
    assert append_once(spark, cache, more, meta, second) == 0
    assert cache.read(spark).count() == 8

    # another input sharing the cache has its own app id: not mistaken for a retry
    other = append_transaction("k", "/lake/other@0", 0)
    assert other[0] != first[0]
    shifted = more.selectExpr("id + 100 AS id", "embed_key")
    assert append_once(spark, cache, shifted, meta, other) == 3
    assert cache.read(spark).count() == 11
    assert cache.read(spark, 0).count() == 5  # the snapshot a step computed against
