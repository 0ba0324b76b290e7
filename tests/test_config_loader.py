"""YAML and --set overrides into the config dataclasses: types coerced, mistakes name the key."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

import pytest

from spark_prune.config import ConfigError
from spark_prune.config_loader import apply_override, build, load_config

MINIMAL = ["input.path=/data/in", "output.path=/data/out"]


def test_yaml_file_and_overrides(tmp_path: Path) -> None:
    path = tmp_path / "c.yaml"
    path.write_text("input: {path: /a}\noutput: {path: /b}\ndbp:\n  tau: 0.5\n  kmeans: {k: 7}\n")
    cfg = load_config(path, ["dbp.kmeans.k=9", "dbp.keep_fraction=0.25", "input.version=3"])
    assert cfg.dbp.tau == 0.5 and cfg.dbp.kmeans.k == 9 and cfg.dbp.keep_fraction == 0.25
    assert cfg.input.version == 3


def test_giving_one_of_two_alternatives_clears_the_other(tmp_path: Path) -> None:
    """dbp.keep_count replaces the default keep_fraction, and an override replaces the file's
    alternative; a file that gives both is still an error naming the pair."""
    assert load_config(overrides=[*MINIMAL, "dbp.keep_count=10"]).dbp.keep_fraction is None
    path = tmp_path / "c.yaml"
    path.write_text("dbp: {keep_count: 10}\nclip_filter: {enabled: true, threshold: 0.3}\n")
    cfg = load_config(path, MINIMAL)
    assert (cfg.dbp.keep_count, cfg.dbp.keep_fraction) == (10, None)
    cfg = load_config(path, [*MINIMAL, "dbp.keep_fraction=0.2", "clip_filter.keep_fraction=0.4"])
    assert (cfg.dbp.keep_count, cfg.dbp.keep_fraction) == (None, 0.2)
    assert (cfg.clip_filter.threshold, cfg.clip_filter.keep_fraction) == (None, 0.4)
    path.write_text("dbp: {keep_count: 10, keep_fraction: 0.2}\n")
    with pytest.raises(ConfigError, match="dbp.keep_fraction: set exactly one"):
        load_config(path, MINIMAL)
    path.write_text("embed: {model: ViT-B-32, pretrained: laion2b_s34b_b79k}\n")
    cfg = load_config(path, [*MINIMAL, "embed.checkpoint=/models/b32.bin"])  # conf/laion.yaml's
    assert (cfg.embed.pretrained, cfg.embed.checkpoint) == (None, "/models/b32.bin")


def test_semdedup_k_auto_from_yaml(tmp_path: Path) -> None:
    path = tmp_path / "c.yaml"
    path.write_text("semdedup:\n  kmeans: {k: auto}\n")
    assert load_config(path, MINIMAL).semdedup.kmeans.k == "auto"


@pytest.mark.parametrize(
    ("override", "message"),
    [
        ("dbp.tua=0.1", "unknown key dbp.tua"),
        ("dbp.kmeans.kk=3", "unknown key dbp.kmeans.kk"),
        ("dbp.tau=hot", "dbp.tau: expected a number"),
        ("dbp.kmeans.k=2.5", "dbp.kmeans.k: expected an integer"),
        ("dbp.kmeans.k=auto", "dbp.kmeans.k: expected an integer, got 'auto'"),
        ("dbp.strategy=best", "dbp.strategy: must be one of dbp, uniform, ssp, random"),
        ("output.mode=append", "output.mode: must be one of error, overwrite"),
        ("input.format=csv", "input.format: must be one of"),
        ("semdedup.kmeans.k=many", 'semdedup.kmeans.k: expected an integer or "auto", got'),
        ("semdedup.kmeans.k=2.5", 'semdedup.kmeans.k: expected an integer or "auto"'),
        ("embed.image_mean=0.5", "embed.image_mean: expected a list"),
        ("dbp=3", "dbp: expected a mapping"),
        ("nonsense", "expected key=value"),
        ("input.path.deeper=1", "input.path.deeper: path is not a section"),
    ],
)
def test_bad_types_name_the_key(override: str, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        load_config(overrides=[*MINIMAL, override])


def test_top_level_must_be_a_mapping(tmp_path: Path) -> None:
    path = tmp_path / "c.yaml"
    path.write_text("- a\n- b\n")
    with pytest.raises(ConfigError, match="the top level must be a mapping"):
        load_config(path)


def test_override_values_are_yaml_scalars() -> None:
    raw: dict[str, object] = {}
    for item in ("a.d=true", "a.e=text", "a.f=", "a.g=[1, 2]"):
        apply_override(raw, item)
    assert raw == {"a": {"d": True, "e": "text", "f": None, "g": [1, 2]}}
    cfg = load_config(overrides=[*MINIMAL, "dbp.kmeans.k=7", "dbp.tau=0.5"])
    assert (cfg.dbp.kmeans.k, cfg.dbp.tau) == (7, 0.5)


def test_a_string_key_keeps_the_number_as_typed() -> None:
    """YAML 1.1 reads 0012 as octal 10 and 12:30 as 750; a string key keeps the text."""
    cfg = load_config(overrides=[*MINIMAL, "run_id=0012", "tracking.run_name=1.10"])
    assert (cfg.run_id, cfg.tracking.run_name) == ("0012", "1.10")
    assert load_config(overrides=[*MINIMAL, "dbp.tau=1e-3"]).dbp.tau == 0.001  # YAML: a string


def test_spark_conf_keys_keep_their_dots_and_spark_spelling() -> None:
    cfg = load_config(
        overrides=[
            *MINIMAL,
            "spark.conf.spark.sql.shuffle.partitions=3",
            "spark.conf.spark.sql.adaptive.enabled=false",
        ]
    )
    assert cfg.spark.conf == {
        "spark.sql.shuffle.partitions": "3",
        "spark.sql.adaptive.enabled": "false",  # Spark's spelling, not Python's False
    }
    with pytest.raises(ConfigError, match=r"spark.conf.spark.x: expected a string, number or"):
        load_config(overrides=[*MINIMAL, "spark.conf={spark.x: null}"])


def test_a_key_given_twice_in_a_file_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "c.yaml"
    path.write_text("dbp:\n  keep_fraction: 0.2\ndbp:\n  tau: 0.3\n")
    with pytest.raises(ConfigError, match="at line 3, column 1: key 'dbp' is given twice"):
        load_config(path)
    path.write_text("dbp: {kmeans: &km {k: 3, seed: 5}}\nsemdedup: {kmeans: {<<: *km, k: 7}}\n")
    assert load_config(path, MINIMAL).semdedup.kmeans.seed == 5  # a merge key, overridden: fine
    path.write_text("1: x\nfoo: y\n")
    with pytest.raises(ConfigError, match="unknown key 1; known keys here"):
        load_config(path)


@dataclass(frozen=True)
class Inner:
    size: int | Literal["auto"] = "auto"
    weights: Sequence[float] = ()


@dataclass(frozen=True)
class Outer:
    name: str = ""
    ratio: float | None = None
    inner: Inner = field(default_factory=Inner)
    tags: dict[str, str] = field(default_factory=dict)


def test_build_is_generic_over_dataclasses() -> None:
    raw = {"name": 7, "ratio": 1, "inner": {"size": 3, "weights": [1, 2.5]}, "tags": {"a": 1}}
    assert build(Outer, raw, "") == Outer("7", 1.0, Inner(3, (1.0, 2.5)), {"a": "1"})
    assert build(Outer, {}, "") == Outer()
    with pytest.raises(ConfigError, match=r"inner\.size: expected an integer or \"auto\""):
        build(Outer, {"inner": {"size": "big"}}, "")
    with pytest.raises(ConfigError, match=r"inner\.weights\[1\]: expected a number"):
        build(Outer, {"inner": {"weights": [1, "x"]}}, "")


def test_shipped_configs_load() -> None:
    for path in sorted(Path("conf").glob("*.yaml")):
        cfg = load_config(path, MINIMAL)
        assert cfg.input.path == "/data/in", path
