"""The embed package's entry points (embed/__init__.py): importable without torch, and the
lazy ``embed`` / ``load_model`` / ``model_info`` are the stage's and the loader's."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import spark_prune.embed
from spark_prune.embed import models
from tests.embed_fixtures import embed_config


def test_import_without_torch_is_lazy() -> None:
    code = (
        "import sys; sys.modules['torch'] = None; sys.modules['open_clip'] = None; "
        "import spark_prune.embed, spark_prune.embed.stage, spark_prune.embed.models"
    )
    assert subprocess.run([sys.executable, "-c", code], check=False).returncode == 0


def test_the_entry_points_are_the_modules_functions(checkpoint: Path) -> None:
    cfg = embed_config(checkpoint)
    assert spark_prune.embed.model_info(cfg) == models.model_info(cfg)
    loaded = spark_prune.embed.load_model(cfg, "cpu")
    assert loaded is models.load_model(cfg, "cpu")  # the per-process model cache
