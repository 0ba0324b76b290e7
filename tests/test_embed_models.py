"""Loading the open_clip model (embed/models.py): once per Python worker, fp16 only on a GPU,
model configs checked, the cache key following what the embeddings depend on."""

from __future__ import annotations

import json
import logging
from pathlib import Path

import pytest

pytest.importorskip("torch")
pytest.importorskip("open_clip")

from pyspark.sql import SparkSession

from spark_prune.config import EmbedConfig
from spark_prune.embed import embed
from spark_prune.embed.batch import embed_rows
from spark_prune.embed.models import LOAD_LOG_ENV, load_model, model_info, register_model_config
from spark_prune.embed.stage import cache_key
from tests.embed_fixtures import embed_config, photo_frame


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
    df = photo_frame(spark, variants * 2).repartition(partitions)
    assert df.rdd.getNumPartitions() == partitions
    out, _ = embed(spark, df, embed_config(link, batch_size=2, text_column=None), "id")
    assert out.filter("image_emb IS NOT NULL").count() == 2 * len(variants)
    loads = sorted(p.name for p in (tmp_path / "loads").iterdir())  # load-<pid>-<random>
    pids = [name.split("-")[1] for name in loads]
    # once per Python worker process (a busy machine may start more workers than cores),
    # never once per partition or batch
    assert len(set(pids)) == len(pids) and 1 <= len(loads) < partitions, loads


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
