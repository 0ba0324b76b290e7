"""The demo lakehouse builder, on a small folder of PNGs shaped like openclipart (no download)."""

from __future__ import annotations

from pathlib import Path

import pytest
from pyspark.sql import SparkSession

from spark_prune.demo.clipart import (
    PNG_SUBDIR,
    build_sample_lakehouse,
    caption_for,
    duplicate_groups,
    ensure_openclipart,
    list_clipart,
    sample_counts,
    select_sample,
)
from tests.run_fixture import png_bytes

# relative path -> colour; equal colours are byte-identical files (duplicate groups)
FILES = {
    "animals/tux_penguin_01.png": 1,
    "animals/birds/tux_penguin_copy.png": 1,
    "animals/cat.png": 2,
    "food/apple_red_01.png": 3,
    "food/fruit/apple_red.png": 3,
    "food/fruit/apple_red_02.png": 3,
    "food/pear.png": 4,
    "signs_and_symbols/flags/europe/ireland.png": 5,
    "signs_and_symbols/StopSign.png": 6,
    "tools/hammer.png": 7,
}


@pytest.fixture()
def clipart(tmp_path: Path) -> Path:
    root = tmp_path / "png"
    for rel, colour in FILES.items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(png_bytes(colour))
    (root / "README").write_text("not a png")
    return root


def test_list_and_groups(clipart: Path) -> None:
    items = list_clipart(clipart)
    assert [i.path for i in items] == sorted(FILES)
    assert [i.id for i in items] == list(range(len(FILES)))
    sizes = sorted(len(g) for g in duplicate_groups(items).values())
    assert sizes == [1, 1, 1, 1, 1, 2, 3]
    counts = sample_counts(items)
    assert counts == {
        "rows": 10,
        "categories": 4,
        "duplicate_groups": 2,
        "duplicate_rows": 5,
        "redundant_rows": 3,
    }


@pytest.mark.parametrize("max_images", [1, 3, 4, 6, 10, 50])
def test_sample_keeps_whole_groups(clipart: Path, max_images: int) -> None:
    items = list_clipart(clipart)
    sample = select_sample(items, max_images, seed=7)
    assert len(sample) == min(max_images, len(items))  # five singletons always fill the rest
    chosen = {i.path for i in sample}
    for group in duplicate_groups(items).values():
        paths = {i.path for i in group}
        assert paths <= chosen or not (paths & chosen), "a duplicate group was split"
    assert sample == select_sample(items, max_images, seed=7)  # deterministic
    assert [i.id for i in sample] == sorted(i.id for i in sample)


def test_caption_is_made_from_the_file_name() -> None:
    assert caption_for("animals/tux_penguin_01.png") == "a clip art of tux penguin (animals)"
    assert caption_for("signs_and_symbols/StopSign.png") == (
        "a clip art of stop sign (signs and symbols)"
    )
    assert caption_for("food/42.png") == "a clip art of something (food)"


def test_ensure_prefers_existing_copies(clipart: Path, tmp_path: Path) -> None:
    assert ensure_openclipart(tmp_path / "cache", system_dir=clipart) == clipart
    cached = tmp_path / "cache" / "openclipart" / PNG_SUBDIR
    cached.mkdir(parents=True)
    (cached / "x.png").write_bytes(png_bytes(1))
    assert ensure_openclipart(tmp_path / "cache", system_dir=tmp_path / "absent") == cached


def test_build_sample_lakehouse(spark: SparkSession, clipart: Path, tmp_path: Path) -> None:
    out = str(tmp_path / "lake" / "clipart")
    info = build_sample_lakehouse(spark, tmp_path / "cache", out, max_images=6, source_dir=clipart)
    assert info["written"] is True and info["delta_version"] == 0
    df = spark.read.format("delta").load(out)
    assert [f.name for f in df.schema.fields] == ["id", "path", "category", "caption", "image"]
    rows = sorted(df.collect(), key=lambda r: r["id"])
    assert len(rows) == info["rows"] <= 6
    by_path = {p: i for i, p in enumerate(sorted(FILES))}
    for row in rows:
        assert row["id"] == by_path[row["path"]]
        assert row["category"] == row["path"].split("/")[0]
        assert row["caption"] == caption_for(row["path"])
        assert bytes(row["image"]) == (clipart / row["path"]).read_bytes()
    again = build_sample_lakehouse(spark, tmp_path / "cache", out, max_images=6,
                                   source_dir=clipart)  # fmt: skip
    assert again["written"] is False and again["delta_version"] == 0
