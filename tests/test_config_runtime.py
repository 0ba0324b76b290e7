"""The embed:, spark: and tracking: sections (config_runtime.py): what they refuse on load, and
what embedding needs only when it is about to run."""

from __future__ import annotations

import pytest

from spark_prune.config import ConfigError
from spark_prune.config_loader import load_config
from spark_prune.config_runtime import EmbedConfig, SparkConfig

MINIMAL = ["input.path=/data/in", "output.path=/data/out"]


def test_embedding_needs_weights_when_it_runs_not_on_load() -> None:
    """conf/demo.yaml is a template whose checkpoint the demo fills in: it loads; running the
    stage without weights is one line before Spark starts."""
    cfg = load_config(overrides=[*MINIMAL, "embed.enabled=true", "embed.model=my-clip"])
    with pytest.raises(ConfigError, match="embed.pretrained: model 'my-clip' has no weights"):
        cfg.embed.check_ready()
    hub = load_config(overrides=[*MINIMAL, "embed.enabled=true", "embed.model=hf-hub:org/m"])
    hub.embed.check_ready()


def test_normalisation_needs_three_channels_and_a_positive_std() -> None:
    EmbedConfig(image_mean=(0.5, 0.4, 0.3), image_std=(0.2, 0.2, 0.2)).validate("embed")
    with pytest.raises(ConfigError, match=r"^embed.image_std: must be > 0 per channel"):
        EmbedConfig(image_std=(0.2, 0.0, 0.2)).validate("embed")
    with pytest.raises(ConfigError, match=r"^embed.image_mean: must be three finite numbers"):
        EmbedConfig(image_mean=(0.5, float("nan"), 0.5)).validate("embed")


def test_spark_log_levels_are_spark_s_own() -> None:
    for level in ("WARN", "error", "Info", "OFF"):
        SparkConfig(log_level=level).validate("spark")
    with pytest.raises(ConfigError, match=r"^spark.log_level: must be one of ALL, DEBUG"):
        SparkConfig(log_level="LOUD").validate("spark")
