"""Typed, validated run configuration loaded from YAML.

Every section is a frozen dataclass. Unknown keys, wrong types and bad values raise
``ConfigError`` naming the dotted key (``dbp.tau``), so a typo never silently falls back to a
default. ``--set dotted.key=value`` overrides are parsed as YAML scalars.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import yaml

from spark_prune.config_loader import ConfigError, build

__all__ = ["ConfigError", "PipelineConfig", "apply_override", "config_from_dict", "load_config"]


InputFormat = Literal["delta", "parquet", "table"]
WriteMode = Literal["error", "overwrite"]
Strategy = Literal["dbp", "uniform", "ssp", "random", "hierarchical"]
Order = Literal["hard", "easy", "random"]
EvalStrategy = Literal["dbp", "uniform", "ssp", "random", "dbp_random", "hierarchical"]
SortDirection = Literal["desc", "asc"]


def _check(condition: bool, key: str, message: str) -> None:
    if not condition:
        raise ConfigError(f"{key}: {message}")


@dataclass(frozen=True)
class InputConfig:
    """Where the rows come from. ``path`` is a Delta or Parquet directory, or a table name."""

    path: str = ""
    format: InputFormat = "delta"
    version: int | None = None
    id_column: str = "id"
    embedding_column: str = "image_emb"
    embedding_dim: int | None = None

    def validate(self, key: str) -> None:
        _check(bool(self.path), f"{key}.path", "is required (a Delta/Parquet path or table name)")
        _check(self.version is None or self.version >= 0, f"{key}.version", "must be >= 0")
        _check(
            self.version is None or self.format != "parquet",
            f"{key}.version",
            "time travel needs a Delta input, not parquet",
        )
        _check(
            self.embedding_dim is None or self.embedding_dim > 0,
            f"{key}.embedding_dim",
            "must be positive",
        )
        _check(bool(self.id_column), f"{key}.id_column", "must not be empty")


@dataclass(frozen=True)
class OutputConfig:
    """Where the run writes. A path (local, s3://, dbfs:/, abfss://) or a catalog schema."""

    path: str = ""
    mode: WriteMode = "error"
    catalog_schema: str | None = None
    manifest_path: str | None = None

    def validate(self, key: str) -> None:
        _check(
            bool(self.path) or bool(self.catalog_schema),
            f"{key}.path",
            "set output.path or output.catalog_schema",
        )
        _check(
            self.catalog_schema is None or self.manifest_path is not None or bool(self.path),
            f"{key}.manifest_path",
            "is required with output.catalog_schema (a file path)",
        )


@dataclass(frozen=True)
class KMeansConfig:
    """Spherical k-means fitted with faiss on a seeded sample pulled to the driver."""

    k: int = 500
    iterations: int = 100
    seed: int = 1234
    sample_size: int | None = None
    max_points_per_centroid: int = 256

    def validate(self, key: str) -> None:
        _check(self.k >= 1, f"{key}.k", f"must be >= 1, got {self.k}")
        _check(self.iterations >= 1, f"{key}.iterations", "must be >= 1")
        _check(
            self.sample_size is None or self.sample_size >= 1, f"{key}.sample_size", "must be >= 1"
        )
        _check(self.max_points_per_centroid >= 1, f"{key}.max_points_per_centroid", "must be >= 1")


@dataclass(frozen=True)
class HierarchyConfig:
    """``dbp.strategy: hierarchical`` (Vo et al. 2024): k-means over the centroids, level by level.

    Level 1 is DBP's own clustering (``dbp.kmeans.k``); ``k`` lists the number of clusters of
    each further level, each fitted on the centroids of the level below (so levels = 1 + len(k)).
    """

    k: Sequence[int] = (10,)
    iterations: int = 50

    def validate(self, key: str) -> None:
        _check(len(self.k) >= 1, f"{key}.k", "list at least one level above dbp.kmeans.k")
        for i, k in enumerate(self.k):
            _check(k >= 1, f"{key}.k[{i}]", f"must be >= 1, got {k}")
            if i:
                _check(k <= self.k[i - 1], f"{key}.k[{i}]", "levels must not grow upwards")
        _check(self.iterations >= 1, f"{key}.iterations", "must be >= 1")


@dataclass(frozen=True)
class DBPConfig:
    """Density-based pruning: per-cluster quotas from complexity (Abbas et al. 2024)."""

    enabled: bool = True
    strategy: Strategy = "dbp"
    tau: float = 0.1
    num_neighbors: int = 20
    keep_fraction: float | None = 0.5
    keep_count: int | None = None
    balance_ratio: float = 0.0
    within_cluster: Order = "hard"
    seed: int = 1234
    kmeans: KMeansConfig = field(default_factory=KMeansConfig)
    hierarchy: HierarchyConfig = field(default_factory=HierarchyConfig)

    def validate(self, key: str) -> None:
        _check(self.tau > 0, f"{key}.tau", f"must be > 0, got {self.tau}")
        _check(self.num_neighbors >= 1, f"{key}.num_neighbors", "must be >= 1")
        _check(
            (self.keep_fraction is None) != (self.keep_count is None),
            f"{key}.keep_fraction",
            "set exactly one of keep_fraction and keep_count",
        )
        if self.keep_fraction is not None:
            _check(
                0 < self.keep_fraction <= 1,
                f"{key}.keep_fraction",
                f"must be in (0, 1], got {self.keep_fraction}",
            )
        if self.keep_count is not None:
            _check(self.keep_count >= 0, f"{key}.keep_count", "must be >= 0")
        _check(0 <= self.balance_ratio <= 1, f"{key}.balance_ratio", "must be in [0, 1]")
        self.kmeans.validate(f"{key}.kmeans")
        self.hierarchy.validate(f"{key}.hierarchy")


@dataclass(frozen=True)
class KeepByConfig:
    """``semdedup.keep_by``: order rows inside a cluster by a column (then id), so the
    survivor of a duplicate group is e.g. the highest-resolution image."""

    column: str = ""
    order: SortDirection = "desc"

    def validate(self, key: str) -> None:
        _check(bool(self.column), f"{key}.column", "is required (a numeric input column)")


@dataclass(frozen=True)
class SemDedupConfig:
    """SemDeDup: remove rows whose max similarity to an earlier row exceeds 1 - eps."""

    enabled: bool = False
    eps: float = 0.07
    order: Order = "hard"
    seed: int = 1234
    block_size: int = 1024
    rows_per_cluster: int = 10_000
    keep_by: KeepByConfig | None = None
    border_margin: float = 0.0
    kmeans: KMeansConfig = field(default_factory=lambda: KMeansConfig(k=0, iterations=20))

    def validate(self, key: str) -> None:
        _check(0 <= self.eps < 2, f"{key}.eps", f"must be in [0, 2), got {self.eps}")
        if self.keep_by is not None:
            self.keep_by.validate(f"{key}.keep_by")
        _check(
            0 <= self.border_margin <= 2,
            f"{key}.border_margin",
            f"must be in [0, 2], got {self.border_margin}",
        )
        _check(self.block_size >= 1, f"{key}.block_size", "must be >= 1")
        _check(self.rows_per_cluster >= 1, f"{key}.rows_per_cluster", "must be >= 1")
        _check(self.kmeans.k >= 0, f"{key}.kmeans.k", "must be >= 0 (0 = rows / rows_per_cluster)")
        _check(self.kmeans.iterations >= 1, f"{key}.kmeans.iterations", "must be >= 1")


@dataclass(frozen=True)
class ClipFilterConfig:
    """Keep rows whose image-text CLIP score passes a threshold or is in the top fraction."""

    enabled: bool = False
    score_column: str | None = None
    image_column: str = "image_emb"
    text_column: str = "text_emb"
    threshold: float | None = None
    keep_fraction: float | None = None

    def validate(self, key: str) -> None:
        if not self.enabled:
            return
        _check(
            (self.threshold is None) != (self.keep_fraction is None),
            f"{key}.threshold",
            "set exactly one of threshold and keep_fraction",
        )
        if self.keep_fraction is not None:
            _check(0 < self.keep_fraction <= 1, f"{key}.keep_fraction", "must be in (0, 1]")


@dataclass(frozen=True)
class EmbedConfig:
    """open_clip embedding stage (model loaded once per Python worker)."""

    enabled: bool = False
    model: str = "ViT-B-32"
    pretrained: str | None = None
    checkpoint: str | None = None
    image_column: str | None = "image"
    image_kind: Literal["bytes", "path"] = "bytes"
    text_column: str | None = "caption"
    batch_size: int = 64
    device: Literal["auto", "cpu", "cuda"] = "auto"
    precision: Literal["fp32", "fp16", "bf16"] = "fp32"
    image_emb_column: str = "image_emb"
    text_emb_column: str = "text_emb"
    clip_score_column: str = "clip_score"
    cache_path: str | None = None
    image_mean: Sequence[float] | None = None
    image_std: Sequence[float] | None = None

    def validate(self, key: str) -> None:
        if not self.enabled:
            return
        _check(self.batch_size >= 1, f"{key}.batch_size", "must be >= 1")
        _check(
            self.image_column is not None or self.text_column is not None,
            f"{key}.image_column",
            "set image_column, text_column or both",
        )
        _check(
            self.pretrained is None or self.checkpoint is None,
            f"{key}.checkpoint",
            "set pretrained or checkpoint, not both",
        )


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
            _check(0 < budget <= 1, f"{key}.budgets[{i}]", f"must be in (0, 1], got {budget}")
        _check(len(self.budgets) >= 1, f"{key}.budgets", "list at least one keep fraction")
        _check(len(self.strategies) >= 1, f"{key}.strategies", "list at least one strategy")
        _check(
            len(set(self.strategies)) == len(self.strategies),
            f"{key}.strategies",
            "lists a strategy twice",
        )
        _check(
            0 < self.test_fraction < 1,
            f"{key}.test_fraction",
            f"must be in (0, 1), got {self.test_fraction}",
        )
        _check(self.max_iter >= 1, f"{key}.max_iter", "must be >= 1")
        _check(self.reg_param >= 0, f"{key}.reg_param", "must be >= 0")
        _check(self.partitions >= 1, f"{key}.partitions", "must be >= 1")

    def require_label(self, key: str) -> None:
        _check(bool(self.label_column), f"{key}.label_column", "is required by evaluate")


@dataclass(frozen=True)
class SparkConfig:
    """Used only when no SparkSession is active (local runs)."""

    master: str | None = None
    app_name: str = "spark_prune"
    conf: dict[str, str] = field(default_factory=dict)
    log_level: str = "WARN"

    def validate(self, key: str) -> None:
        return None


@dataclass(frozen=True)
class PipelineConfig:
    """The whole run: embed -> SemDeDup -> CLIP-score filter -> DBP -> write."""

    input: InputConfig = field(default_factory=InputConfig)
    output: OutputConfig = field(default_factory=OutputConfig)
    embed: EmbedConfig = field(default_factory=EmbedConfig)
    semdedup: SemDedupConfig = field(default_factory=SemDedupConfig)
    clip_filter: ClipFilterConfig = field(default_factory=ClipFilterConfig)
    dbp: DBPConfig = field(default_factory=DBPConfig)
    evaluate: EvaluateConfig = field(default_factory=EvaluateConfig)
    spark: SparkConfig = field(default_factory=SparkConfig)
    run_id: str | None = None

    def validate(self, key: str = "") -> None:
        for f in dataclasses.fields(self):
            section = getattr(self, f.name)
            if hasattr(section, "validate"):
                section.validate(f.name)

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


def load_config(path: str | Path | None = None, overrides: Sequence[str] = ()) -> PipelineConfig:
    """Load a YAML file (optional), apply ``key=value`` overrides, validate."""
    raw: dict[str, Any] = {}
    if path is not None:
        text = Path(path).read_text()
        loaded = yaml.safe_load(text) or {}
        if not isinstance(loaded, dict):
            raise ConfigError(f"{path}: the top level must be a mapping")
        raw = loaded
    for item in overrides:
        apply_override(raw, item)
    return config_from_dict(raw)


def config_from_dict(raw: Mapping[str, Any]) -> PipelineConfig:
    cfg = build(PipelineConfig, raw, "")
    cfg.validate()
    return cfg


def apply_override(raw: dict[str, Any], item: str) -> None:
    """Apply one ``dotted.key=value`` override in place; the value is parsed as YAML."""
    if "=" not in item:
        raise ConfigError(f"--set {item!r}: expected key=value")
    dotted, value_text = item.split("=", 1)
    parts = dotted.strip().split(".")
    node = raw
    for part in parts[:-1]:
        child = node.setdefault(part, {})
        if not isinstance(child, dict):
            raise ConfigError(f"{dotted}: {part} is not a section")
        node = child
    node[parts[-1]] = yaml.safe_load(value_text) if value_text.strip() else None
