"""Config loading: typed values, unknown keys and bad values name the key, overrides."""

from __future__ import annotations

from pathlib import Path

import pytest

from spark_prune.cli import main
from spark_prune.config import ConfigError, load_config

MINIMAL = ["input.path=/data/in", "output.path=/data/out"]


def test_defaults_follow_the_paper() -> None:
    cfg = load_config(overrides=MINIMAL)
    assert cfg.dbp.tau == 0.1 and cfg.dbp.num_neighbors == 20 and cfg.dbp.balance_ratio == 0
    assert cfg.dbp.kmeans.k == 500 and cfg.dbp.kmeans.iterations == 100
    assert cfg.dbp.kmeans.seed == 1234 and cfg.dbp.within_cluster == "hard"
    assert cfg.output.mode == "error" and not cfg.semdedup.enabled


def test_yaml_file_and_overrides(tmp_path: Path) -> None:
    path = tmp_path / "c.yaml"
    path.write_text("input: {path: /a}\noutput: {path: /b}\ndbp:\n  tau: 0.5\n  kmeans: {k: 7}\n")
    cfg = load_config(path, ["dbp.kmeans.k=9", "dbp.keep_fraction=0.25", "input.version=3"])
    assert cfg.dbp.tau == 0.5 and cfg.dbp.kmeans.k == 9 and cfg.dbp.keep_fraction == 0.25
    assert cfg.input.version == 3


@pytest.mark.parametrize(
    ("override", "message"),
    [
        ("dbp.tua=0.1", "unknown key dbp.tua"),
        ("dbp.kmeans.kk=3", "unknown key dbp.kmeans.kk"),
        ("dbp.tau=-1", "dbp.tau: must be > 0"),
        ("dbp.tau=hot", "dbp.tau: expected a number"),
        ("dbp.kmeans.k=2.5", "dbp.kmeans.k: expected an integer"),
        ("dbp.strategy=best", "dbp.strategy: must be one of dbp, uniform, ssp, random"),
        ("dbp.keep_fraction=1.5", "dbp.keep_fraction: must be in"),
        ("dbp.keep_count=10", "dbp.keep_fraction: set exactly one"),
        ("output.mode=append", "output.mode: must be one of error, overwrite"),
        ("semdedup.eps=3", "semdedup.eps: must be in"),
        ("input.format=csv", "input.format: must be one of"),
        ("clip_filter.enabled=true", "clip_filter.threshold: set exactly one"),
        ("nonsense", "expected key=value"),
        ("dbp.kmeans.method=gpu", "dbp.kmeans.method: must be one of driver, distributed, auto"),
        ("semdedup.kmeans.method=x", "semdedup.kmeans.method: must be one of driver"),
        ("semdedup.kmeans.driver_max_work=0", "semdedup.kmeans.driver_max_work: must be >= 1"),
        ("semdedup.split_rows=-1", "semdedup.split_rows: must be >= 0"),
    ],
)
def test_bad_values_name_the_key(override: str, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        load_config(overrides=[*MINIMAL, override])


def test_missing_input_path_is_named() -> None:
    with pytest.raises(ConfigError, match="input.path: is required"):
        load_config(overrides=["output.path=/x"])


def test_cli_reports_config_errors(capsys: pytest.CaptureFixture[str]) -> None:
    assert (
        main(["run", "--set", "input.path=/a", "--set", "output.path=/b", "--set", "dbp.tau=0"])
        == 2
    )
    assert "dbp.tau: must be > 0" in capsys.readouterr().err


def test_shipped_configs_load() -> None:
    for path in sorted(Path("conf").glob("*.yaml")):
        cfg = load_config(path, MINIMAL)
        assert cfg.input.path == "/data/in", path
