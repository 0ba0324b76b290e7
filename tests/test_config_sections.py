"""The config sections of config_sections.py (evaluate:, semdedup.keep_by, dbp.hierarchy,
incremental:): parsed from YAML-style overrides, and every bad value a ConfigError naming the
dotted key."""

from __future__ import annotations

import pytest

from spark_prune.config import ConfigError
from spark_prune.config_loader import load_config
from spark_prune.config_sections import (
    EvaluateConfig,
    HierarchyConfig,
    IncrementalConfig,
    KeepByConfig,
    check,
)

MINIMAL = ["input.path=/data/in", "output.path=/data/out"]


@pytest.mark.parametrize(
    ("override", "message"),
    [
        ("semdedup.keep_by={order: asc}", "semdedup.keep_by.column: is required"),
        ("semdedup.keep_by={column: w, order: up}", "semdedup.keep_by.order: must be one of"),
        ("dbp.hierarchy.k=[]", "dbp.hierarchy.k: list at least one level"),
        ("dbp.hierarchy.k=[5, 8]", r"dbp.hierarchy.k\[1\]: levels must not grow upwards"),
        ("dbp.hierarchy.iterations=0", "dbp.hierarchy.iterations: must be >= 1"),
        ("evaluate.budgets=[0.5, 0]", r"evaluate.budgets\[1\]: must be in \(0, 1\]"),
        ("evaluate.strategies=[dbp, dbp]", "evaluate.strategies: lists a strategy twice"),
        ("evaluate.strategies=[best]", r"evaluate.strategies\[0\]: must be one of"),
        ("evaluate.test_fraction=1", "evaluate.test_fraction: must be in"),
        ("evaluate.test_fraction=0", "evaluate.test_fraction: must be in"),
        ("evaluate.max_iter=0", "evaluate.max_iter: must be >= 1"),
        ("evaluate.reg_param=-0.1", "evaluate.reg_param: must be >= 0"),
        ("evaluate.partitions=0", "evaluate.partitions: must be >= 1"),
        ("evaluate.budgets=[]", "evaluate.budgets: list at least one keep fraction"),
        ("evaluate.strategies=[]", "evaluate.strategies: list at least one strategy"),
        ("incremental.refit=sometimes", "incremental.refit: must be one of warn, auto"),
    ],
)
def test_bad_values_name_the_key(override: str, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        load_config(overrides=[*MINIMAL, override])


def test_evaluate_sections_parse() -> None:
    cfg = load_config(
        overrides=[
            *MINIMAL,
            "semdedup.keep_by={column: pixels}",
            "semdedup.border_margin=0.02",
            "dbp.strategy=hierarchical",
            "dbp.hierarchy.k=[20, 5]",
            "evaluate.budgets=[0.25]",
        ]
    )
    assert cfg.semdedup.keep_by is not None and cfg.semdedup.keep_by.column == "pixels"
    assert cfg.semdedup.keep_by.order == "desc" and cfg.semdedup.border_margin == 0.02
    assert cfg.dbp.strategy == "hierarchical" and cfg.dbp.hierarchy.k == (20, 5)
    assert cfg.evaluate.budgets == (0.25,) and cfg.semdedup.kmeans.k == "auto"
    assert (
        cfg.evaluate.strategies == EvaluateConfig().strategies and cfg.evaluate.test_fraction == 0.2
    )


def test_defaults_and_direct_validation() -> None:
    ev = EvaluateConfig()
    assert ev.budgets == (0.1, 0.2, 0.3, 0.5) and ev.label_column == ""
    assert set(ev.strategies) == {"dbp", "uniform", "ssp", "random", "dbp_random", "hierarchical"}
    ev.validate("evaluate")  # the defaults are valid; only evaluate itself needs the label
    with pytest.raises(ConfigError, match="evaluate.label_column: is required by evaluate"):
        ev.require_label("evaluate")
    EvaluateConfig(label_column="y").require_label("evaluate")
    with pytest.raises(ConfigError, match="x.keep_by.column: is required"):
        KeepByConfig().validate("x.keep_by")
    with pytest.raises(ConfigError, match=r"h.k\[0\]: must be >= 1, got 0"):
        HierarchyConfig(k=(0,)).validate("h")
    check(True, "a.b", "never raised")
    with pytest.raises(ConfigError, match="^a.b: broken$"):
        check(False, "a.b", "broken")


def test_incremental_refit_is_warn_or_auto() -> None:
    assert IncrementalConfig().refit == "warn"
    IncrementalConfig(refit="auto").validate("incremental")
    bad = IncrementalConfig(refit="always")  # type: ignore[arg-type]
    with pytest.raises(ConfigError, match=r"^incremental.refit: must be warn or auto, got 'alw"):
        bad.validate("incremental")
