"""The embedding stage with a real open_clip model (EfficientNet-Lite0 + MiniLM) on real photos."""

from __future__ import annotations

import json
import logging
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest

pytest.importorskip("torch")
pytest.importorskip("open_clip")

from pyspark.sql import DataFrame, SparkSession

from spark_prune import cli
from spark_prune.config import EmbedConfig
from spark_prune.embed import embed
from spark_prune.embed.batch import _prepare_image, embed_rows
from spark_prune.embed.models import LOAD_LOG_ENV, load_model, model_info, register_model_config
from spark_prune.embed.stage import cache_key
from spark_prune.images import to_rgb_on_white
from tests.embed_fixtures import (
    CAPTIONS,
    embed_config,
    jpeg,
    offline_checkpoint,
    offline_overrides,
    photo_variants,
    photos,
    png,
)

JOBS_EMBED = Path(__file__).resolve().parents[1] / "jobs" / "embed.py"
SCHEMA = "id long, name string, image binary, caption string"


@pytest.fixture(scope="session")
def checkpoint() -> Path:
    return offline_checkpoint()


@pytest.fixture(scope="module")
def variants() -> list[tuple[str, str, bytes]]:
    return photo_variants()


def _photo_df(spark: SparkSession, variants: list[tuple[str, str, bytes]]) -> DataFrame:
    rows = [(i, name, data, CAPTIONS[family]) for i, (name, family, data) in enumerate(variants)]
    return spark.createDataFrame(rows, SCHEMA)


def _vectors(df: DataFrame, column: str = "image_emb") -> dict[int, np.ndarray | None]:
    return {
        r["id"]: None if r[column] is None else np.asarray(r[column], dtype=np.float32)
        for r in df.select("id", column).collect()
    }


@pytest.fixture(scope="module")
def by_partitions(
    spark: SparkSession, checkpoint: Path, variants: list[tuple[str, str, bytes]]
) -> dict[int, list[Any]]:
    """The same six photos embedded (no cache) with 1 and with 3 partitions."""
    cfg = embed_config(checkpoint, batch_size=2)
    out = {}
    for parts in (1, 3):
        df, _ = embed(spark, _photo_df(spark, variants).repartition(parts), cfg, "id")
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


def test_model_loads_once_per_python_worker(
    spark: SparkSession,
    checkpoint: Path,
    variants: list[tuple[str, str, bytes]],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    link = tmp_path / "model-copy.pt"  # a new path: no worker has this model cached yet
    link.symlink_to(checkpoint)
    monkeypatch.setenv(LOAD_LOG_ENV, str(tmp_path / "loads"))
    partitions = 6
    df = _photo_df(spark, variants * 2).repartition(partitions)
    assert df.rdd.getNumPartitions() == partitions
    out, _ = embed(spark, df, embed_config(link, batch_size=2, text_column=None), "id")
    assert out.filter("image_emb IS NOT NULL").count() == 2 * len(variants)
    loads = list((tmp_path / "loads").iterdir())
    cores = spark.sparkContext.defaultParallelism
    assert 1 <= len(loads) <= min(cores, 2) < partitions, loads


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
    clean, _ = embed(spark, spark.createDataFrame(good, SCHEMA).coalesce(1), cfg, "id")
    dirty, _ = embed(spark, spark.createDataFrame(mixed, SCHEMA).coalesce(1), cfg, "id")
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
    first = _photo_df(spark, variants[:4])
    out1, info1 = embed(spark, first, cfg, "id")
    assert (info1["embedded"], info1["reused"], info1["rows"]) == (4, 0, 4)
    before = _vectors(out1)

    appended = _photo_df(spark, variants)  # ids 0..5: two new rows
    out2, info2 = embed(spark, appended, cfg, "id")
    assert (info2["embedded"], info2["reused"], info2["rows"]) == (2, 4, 6)
    after = _vectors(out2)
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
    emb = _vectors(out, "vec")
    china, flipped = emb[0], emb[1]
    assert china is not None and flipped is not None and emb[2] is not None
    assert float(china @ flipped) > 0.9  # a photo and its flipped copy


def test_fp16_on_cpu_falls_back_to_fp32_with_a_warning(
    checkpoint: Path, caplog: pytest.LogCaptureFixture
) -> None:
    cfg = embed_config(checkpoint, precision="fp16")
    with caplog.at_level(logging.WARNING, logger="spark_prune.embed.models"):
        loaded = load_model(cfg, "cpu")
    assert "fp16 needs a GPU" in caplog.text
    assert loaded.precision == "fp32"
    assert {p.dtype for p in loaded.model.parameters()} == {__import__("torch").float32}
    info = model_info(cfg, "cpu")
    assert (info["precision_requested"], info["precision"]) == ("fp16", "fp32")
    assert cache_key(cfg) != cache_key(embed_config(checkpoint))


def test_batch_composition_does_not_change_a_row(
    checkpoint: Path, variants: list[tuple[str, str, bytes]]
) -> None:
    loaded = load_model(embed_config(checkpoint), "cpu")
    images = [data for _, _, data in variants]
    texts = [CAPTIONS[family] for _, family, _ in variants]
    full = embed_rows(loaded, images, texts, batch_size=4)
    alone = embed_rows(loaded, images[3:4], texts[3:4], batch_size=4)
    reordered = embed_rows(loaded, images[::-1], texts[::-1], batch_size=4)
    assert full.image is not None and alone.image is not None and reordered.image is not None
    assert np.array_equal(full.image[3], alone.image[0])  # type: ignore[arg-type]
    assert np.array_equal(full.image[3], reordered.image[2])  # type: ignore[arg-type]
    assert full.text is not None and alone.text is not None
    assert np.array_equal(full.text[3], alone.text[0])  # type: ignore[arg-type]


def test_model_config_must_be_an_open_clip_config(tmp_path: Path) -> None:
    path = tmp_path / "tiny-test.json"
    cfg = EmbedConfig(model="tiny-test", model_config=str(path))
    with pytest.raises(
        FileNotFoundError, match=r"embed.model_config .*tiny-test.json.* not a local"
    ):
        register_model_config(cfg)
    path.write_text("{not json")
    with pytest.raises(ValueError, match="embed.model_config .*: not valid JSON"):
        register_model_config(cfg)
    path.write_text('{"embed_dim": 8}')
    with pytest.raises(ValueError, match="embed.model_config .*: not an open_clip model config"):
        register_model_config(cfg)
    import open_clip

    assert open_clip.get_model_config("tiny-test") is None
    doc = {"embed_dim": 8, "vision_cfg": {"width": 16}, "text_cfg": {"width": 16}}
    path.write_text(json.dumps(doc))
    register_model_config(cfg)
    register_model_config(cfg)  # once per process: the second call is a no-op
    assert open_clip.get_model_config("tiny-test") == doc


def test_embed_command(
    spark: SparkSession,
    checkpoint: Path,
    variants: list[tuple[str, str, bytes]],
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    source = str(tmp_path / "input")
    _photo_df(spark, variants[:2]).write.format("delta").save(source)
    output = tmp_path / "out"
    argv = [
        "--set",
        f"input.path={source}",
        "--set",
        f"output.path={output}",
        *(arg for item in offline_overrides() for arg in ("--set", item)),
        "--set",
        "embed.text_column=null",
    ]
    assert cli.main(["embed", *argv]) == 0
    printed = json.loads(capsys.readouterr().out)
    assert (printed["embedded"], printed["input_version"]) == (2, 0)
    stored = spark.read.format("delta").load(str(output / "embeddings"))
    assert stored.filter("image_emb IS NOT NULL").count() == 2
    assert cli.main(["embed", *argv]) == 0  # a rerun embeds nothing new
    assert json.loads(capsys.readouterr().out)["embedded"] == 0
    assert cli.main(["embed", "--set", "input.path=", "--set", "output.path=x"]) == 2
    assert JOBS_EMBED.read_text().count('main(["embed"') == 1  # spark-submit entry point


@pytest.mark.skipif(not __import__("torch").cuda.is_available(), reason="needs a CUDA GPU")
def test_fp16_on_gpu(checkpoint: Path, variants: list[tuple[str, str, bytes]]) -> None:
    loaded = load_model(embed_config(checkpoint, precision="fp16", device="cuda"))
    assert loaded.device.type == "cuda" and loaded.precision == "fp16"
    images = [data for _, _, data in variants]
    half = embed_rows(loaded, images, None, batch_size=4).image
    full = embed_rows(load_model(embed_config(checkpoint), "cpu"), images, None, 4).image
    assert half is not None and full is not None
    for a, b in zip(half, full, strict=True):
        assert float(a @ b) > 0.99  # type: ignore[operator]


def test_import_without_torch_is_lazy() -> None:
    code = (
        "import sys; sys.modules['torch'] = None; sys.modules['open_clip'] = None; "
        "import spark_prune.embed, spark_prune.embed.stage, spark_prune.embed.models"
    )
    assert subprocess.run([sys.executable, "-c", code], check=False).returncode == 0


def test_transparent_pixels_become_white(checkpoint: Path) -> None:
    from PIL import Image, ImageDraw

    shape = Image.new("RGBA", (96, 96), (0, 0, 0, 0))  # transparent, black underneath
    ImageDraw.Draw(shape).ellipse((20, 20, 76, 76), fill=(200, 30, 30, 255))
    on_white = Image.new("RGB", (96, 96), (255, 255, 255))
    ImageDraw.Draw(on_white).ellipse((20, 20, 76, 76), fill=(200, 30, 30))
    assert to_rgb_on_white(shape).getpixel((2, 2)) == (255, 255, 255)
    assert to_rgb_on_white(shape.convert("LA")).getpixel((2, 2)) == (255, 255, 255)
    loaded = load_model(embed_config(checkpoint), "cpu")
    result = embed_rows(loaded, [png(shape), png(on_white)], None, batch_size=2)
    assert result.image is not None
    assert float(result.image[0] @ result.image[1]) > 0.999  # type: ignore[operator]


def test_image_over_the_pixel_limit_is_a_recorded_reason(recwarn: pytest.WarningsRecorder) -> None:
    from PIL import Image

    huge = Image.new("1", (20_000, 10_000))  # 2e8 pixels, a few KB as PNG
    tensor, reason = _prepare_image(lambda image: image, png(huge), "bytes")
    assert tensor is None
    assert reason == "image: too large (over Pillow's decompression-bomb pixel limit)"
    big = Image.new("1", (10_000, 9_000))  # 9e7: over the warning limit, under the error
    tensor, reason = _prepare_image(lambda image: image.size, png(big), "bytes")
    assert reason is None and tensor == (10_000, 9_000)
    assert not [w for w in recwarn if issubclass(w.category, Image.DecompressionBombWarning)]
