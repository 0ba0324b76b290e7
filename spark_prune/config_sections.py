"""Config sections of the ``evaluate`` work (``evaluate:``, ``semdedup.keep_by``,
``dbp.hierarchy``), ``incremental:``, and the ``check`` helper every section uses.

They live outside ``config.py`` to keep that module readable; :mod:`spark_prune.config`
re-exports them, and ``ConfigError`` comes from :mod:`spark_prune.errors`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

from spark_prune.errors import ConfigError

EvalStrategy = Literal["dbp", "uniform", "ssp", "random", "dbp_random", "hierarchical"]
SortDirection = Literal["desc", "asc"]
Refit = Literal["warn", "auto"]


def check(condition: bool, key: str, message: str) -> None:
    """Raise ``ConfigError("<key>: <message>")`` unless ``condition``."""
    if not condition:
        raise ConfigError(f"{key}: {message}")


@dataclass(frozen=True)
class HierarchyConfig:
    """``dbp.strategy: hierarchical`` (Vo et al. 2024): k-means over the centroids, level by level.

    Level 1 is DBP's own clustering (``dbp.kmeans.k``); ``k`` lists the number of clusters of
    each further level, each fitted on the centroids of the level below (so levels = 1 + len(k)).
    """

    k: Sequence[int] = (10,)
    iterations: int = 50

    def validate(self, key: str) -> None:
        check(len(self.k) >= 1, f"{key}.k", "list at least one level above dbp.kmeans.k")
        for i, k in enumerate(self.k):
            check(k >= 1, f"{key}.k[{i}]", f"must be >= 1, got {k}")
            if i:
                check(k <= self.k[i - 1], f"{key}.k[{i}]", "levels must not grow upwards")
        check(self.iterations >= 1, f"{key}.iterations", "must be >= 1")


@dataclass(frozen=True)
class KeepByConfig:
    """``semdedup.keep_by``: order rows inside a cluster by a column (then id), so the
    survivor of a duplicate group is e.g. the highest-resolution image."""

    column: str = ""
    order: SortDirection = "desc"

    def validate(self, key: str) -> None:
        check(bool(self.column), f"{key}.column", "is required (a numeric input column)")


@dataclass(frozen=True)
class EvaluateConfig:
    """``spark-prune evaluate``: every strategy at every budget, scored by a linear probe."""

    label_column: str = ""
    budgets: Sequence[float] = (0.1, 0.2, 0.3, 0.5)
    strategies: Sequence[EvalStrategy] = (
        "dbp",
        "uniform",
        "ssp",
        "random",
        "dbp_random",
        "hierarchical",
    )
    test_fraction: float = 0.2
    seed: int = 1234
    max_iter: int = 100
    reg_param: float = 0.0
    partitions: int = 8

    def validate(self, key: str) -> None:
        for i, budget in enumerate(self.budgets):
            check(0 < budget <= 1, f"{key}.budgets[{i}]", f"must be in (0, 1], got {budget}")
        check(len(self.budgets) >= 1, f"{key}.budgets", "list at least one keep fraction")
        check(len(set(self.budgets)) == len(self.budgets), f"{key}.budgets", "lists a budget twice")
        check(len(self.strategies) >= 1, f"{key}.strategies", "list at least one strategy")
        check(
            len(set(self.strategies)) == len(self.strategies),
            f"{key}.strategies",
            "lists a strategy twice",
        )
        check(
            0 < self.test_fraction < 1,
            f"{key}.test_fraction",
            f"must be in (0, 1), got {self.test_fraction}",
        )
        check(self.max_iter >= 1, f"{key}.max_iter", "must be >= 1")
        check(self.reg_param >= 0, f"{key}.reg_param", "must be >= 0")
        check(self.partitions >= 1, f"{key}.partitions", "must be >= 1")

    def require_label(self, key: str) -> None:
        check(bool(self.label_column), f"{key}.label_column", "is required by evaluate")


@dataclass(frozen=True)
class IncrementalConfig:
    """An incremental run: only the rows added to / deleted from the input since the version
    ``previous_run`` read are assigned and deduplicated; both k-means are frozen to its
    centroids. ``from_output``: the previous run is the one already at the output location
    (a scheduled job's setting: its first run, with nothing there yet, is a full run).
    ``refit_above``: when more than this share of the added rows lie beyond the previous
    rows' 95th percentile of DBP distance, a full refit is due: ``refit: warn`` logs
    a warning, ``refit: auto`` makes the run a full run (both k-means refitted)."""

    previous_run: str | None = None
    from_output: bool = False
    refit_above: float | None = 0.2
    refit: Refit = "warn"

    def validate(self, key: str) -> None:
        check(
            self.previous_run is None or bool(self.previous_run.strip()),
            f"{key}.previous_run",
            "must not be empty (null = a full run)",
        )
        check(
            not (self.from_output and self.previous_run),
            f"{key}.from_output",
            "true means the previous run is the one at the output location; "
            "set it or incremental.previous_run, not both",
        )
        check(
            self.refit_above is None or 0 <= self.refit_above <= 1,
            f"{key}.refit_above",
            f"must be a share in [0, 1], got {self.refit_above}",
        )
        check(
            self.refit in ("warn", "auto"),
            f"{key}.refit",
            f"must be warn or auto, got {self.refit!r}",
        )
