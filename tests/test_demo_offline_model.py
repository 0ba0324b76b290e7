"""The demo's offline open_clip model: built once, loaded through the ordinary embed.* keys."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("torch")
pytest.importorskip("open_clip")

from spark_prune.demo.offline_model import (
    OFFLINE_MODEL,
    build_offline_checkpoint,
    minilm_dir,
    offline_model_config,
)
from spark_prune.embed.batch import embed_rows
from spark_prune.embed.models import load_model, model_info
from tests.embed_fixtures import embed_config, offline_checkpoint, offline_model


@pytest.fixture(scope="module")
def checkpoint() -> Path:
    return offline_checkpoint()


def test_settings_name_a_config_file_next_to_the_checkpoint(checkpoint: Path) -> None:
    settings = offline_model()
    config = Path(settings["model_config"])
    assert settings["model"] == OFFLINE_MODEL and config.name == f"{OFFLINE_MODEL}.json"
    assert config.parent == checkpoint.parent and Path(settings["checkpoint"]) == checkpoint
    assert json.loads(config.read_text()) == offline_model_config()
    assert offline_model_config()["text_cfg"]["hf_model_name"] == str(minilm_dir())


def test_text_tower_is_minilm(checkpoint: Path) -> None:
    sentence_transformers = pytest.importorskip("sentence_transformers")
    texts = ["a pagoda in china", "a chinese temple", "a pink flower", "stock prices fell"]
    ours = embed_rows(load_model(embed_config(checkpoint), "cpu"), None, texts, batch_size=4)
    assert ours.text is not None
    x = np.stack(ours.text)  # type: ignore[arg-type]
    st = sentence_transformers.SentenceTransformer(str(minilm_dir()), device="cpu")
    y = st.encode(texts, normalize_embeddings=True)
    np.testing.assert_allclose(x @ x.T, y @ y.T, atol=1e-4)  # isometric projection of MiniLM


def test_offline_checkpoint_is_built_once(checkpoint: Path) -> None:
    stamp = checkpoint.stat().st_mtime_ns
    assert build_offline_checkpoint(checkpoint.parent) == checkpoint
    assert checkpoint.stat().st_mtime_ns == stamp
    info = model_info(embed_config(checkpoint))
    assert info["checkpoint_sha256"] and len(info["checkpoint_sha256"]) == 64
    assert info["model_config"] == offline_model()["model_config"]
    assert info["preprocessing"]["image_size"] == 224
    assert info["preprocessing"]["mean"] == [0.485, 0.456, 0.406]
    assert info["embed_dim"] == 1280 and info["versions"]["open_clip"]
