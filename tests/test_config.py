"""The config schema: defaults, and every bad value raises ConfigError naming the dotted key."""

from __future__ import annotations

import pytest

from spark_prune.config import ConfigError, KMeansConfig, SemDedupConfig, SemDedupKMeansConfig
from spark_prune.config_loader import load_config

MINIMAL = ["input.path=/data/in", "output.path=/data/out"]


def test_defaults_follow_the_paper() -> None:
    cfg = load_config(overrides=MINIMAL)
    assert cfg.dbp.tau == 0.1 and cfg.dbp.num_neighbors == 20 and cfg.dbp.balance_ratio == 0
    assert cfg.dbp.kmeans.k == 500 and cfg.dbp.kmeans.iterations == 100
    assert cfg.dbp.kmeans.seed == 1234 and cfg.dbp.within_cluster == "hard"
    assert cfg.output.mode == "error" and not cfg.semdedup.enabled
    assert cfg.semdedup.kmeans.k == "auto" and cfg.semdedup.kmeans.iterations == 20


@pytest.mark.parametrize(
    ("override", "message"),
    [
        ("dbp.tau=-1", "dbp.tau: must be > 0"),
        ("dbp.keep_fraction=1.5", "dbp.keep_fraction: must be in"),
        ("dbp.keep_fraction=null", "dbp.keep_fraction: set exactly one"),
        ("dbp.kmeans.k=0", "dbp.kmeans.k: must be >= 1, got 0"),
        ("semdedup.eps=3", "semdedup.eps: must be in"),
        ("semdedup.kmeans.k=0", 'semdedup.kmeans.k: must be "auto" .* or an integer >= 1, got 0'),
        ("semdedup.kmeans.k=-3", 'semdedup.kmeans.k: must be "auto"'),
        ("semdedup.kmeans.iterations=0", "semdedup.kmeans.iterations: must be >= 1"),
        ("semdedup.kmeans.sample_size=0", "semdedup.kmeans.sample_size: must be >= 1"),
        ("clip_filter.enabled=true", "clip_filter.threshold: set exactly one"),
        ("dbp.kmeans.method=gpu", "dbp.kmeans.method: must be one of driver, distributed, auto"),
        ("semdedup.kmeans.method=x", "semdedup.kmeans.method: must be one of driver"),
        ("semdedup.kmeans.driver_max_work=0", "semdedup.kmeans.driver_max_work: must be >= 1"),
        ("semdedup.split_rows=-1", "semdedup.split_rows: must be >= 0"),
        ("semdedup.border_margin=2.5", r"semdedup.border_margin: must be in \[0, 2\]"),
        ("dbp.strategy=tree", "dbp.strategy: must be one of .*hierarchical"),
    ],
)
def test_bad_values_name_the_key(override: str, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        load_config(overrides=[*MINIMAL, override])


def test_missing_input_path_is_named() -> None:
    with pytest.raises(ConfigError, match="input.path: is required"):
        load_config(overrides=["output.path=/x"])


def test_model_config_file_is_named_after_the_model() -> None:
    embed = [*MINIMAL, "embed.enabled=true", "embed.pretrained=tag", "embed.model=my-clip"]
    cfg = load_config(overrides=[*embed, "embed.model_config=/models/my-clip.json"])
    assert cfg.embed.model_config == "/models/my-clip.json"
    with pytest.raises(ConfigError, match="embed.model_config: must be a file named my-clip.json"):
        load_config(overrides=[*embed, "embed.model_config=/models/other.json"])


def test_semdedup_k_is_auto_or_an_integer() -> None:
    assert load_config(overrides=[*MINIMAL, "semdedup.kmeans.k=auto"]).semdedup.kmeans.k == "auto"
    cfg = load_config(overrides=[*MINIMAL, "semdedup.kmeans.k=12"])
    assert cfg.semdedup.kmeans.k == 12


def test_semdedup_kmeans_resolves_to_the_kmeans_it_fits() -> None:
    cfg = SemDedupConfig(kmeans=SemDedupKMeansConfig(seed=9, sample_size=50))
    fitted = cfg.kmeans.with_k(12)
    assert fitted == KMeansConfig(k=12, iterations=20, seed=9, sample_size=50)


def test_embedding_key_only_for_sharded_inputs() -> None:
    with pytest.raises(ConfigError, match=r"input.embedding_key: must be one of"):
        load_config(overrides=[*MINIMAL, "input.format=datacomp", "input.embedding_key=l14"])
    with pytest.raises(ConfigError, match=r"input.embedding_key: only applies"):
        load_config(overrides=[*MINIMAL, "input.embedding_key=img_emb"])
