"""The run configuration: one frozen dataclass per section, each validating its own values.

Bad values raise ``ConfigError`` naming the dotted key (``dbp.tau``). Reading YAML and ``--set``
overrides into these classes is :mod:`spark_prune.config_loader`.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import partial
from typing import Any, Literal

from spark_prune.config_runtime import EmbedConfig, SparkConfig, TrackingConfig
from spark_prune.config_sections import (
    EvalStrategy,
    EvaluateConfig,
    HierarchyConfig,
    IncrementalConfig,
    KeepByConfig,
    SortDirection,
)
from spark_prune.config_sections import check as _check
from spark_prune.errors import ConfigError as ConfigError  # re-exported: the historic home

__all__ = [
    "ConfigError",
    "EmbedConfig",
    "EvalStrategy",
    "EvaluateConfig",
    "HierarchyConfig",
    "IncrementalConfig",
    "KeepByConfig",
    "PipelineConfig",
    "SortDirection",
    "SparkConfig",
    "TrackingConfig",
]

KMEANS_SEEDS = (-(2**31), 2**31 - 1)  # faiss takes a 32-bit signed seed
RUN_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._:+-]{0,127}")  # names files: no "/", no ".." start


def check_kmeans_seed(seed: int, key: str) -> None:
    low, high = KMEANS_SEEDS
    _check(low <= seed <= high, key, f"must be in [{low}, {high}] (faiss), got {seed}")


InputFormat = Literal["delta", "parquet", "table", "datacomp", "clip-retrieval"]
WriteMode = Literal["error", "overwrite"]
Strategy = Literal["dbp", "uniform", "ssp", "random", "hierarchical"]
Order = Literal["hard", "easy", "random"]
KMeansMethod = Literal["driver", "distributed", "auto"]
KMEANS_METHODS = ("driver", "distributed", "auto")


# The arrays each sharded format ships (spark_prune.formats; the first is the default).
SHARDED_EMBEDDING_KEYS = {
    "datacomp": ("l14_img", "l14_txt", "b32_img", "b32_txt"),
    "clip-retrieval": ("img_emb", "text_emb"),
}


@dataclass(frozen=True)
class InputConfig:
    """Where the rows come from. ``path`` is a Delta or Parquet directory, a table name, or a
    directory of DataComp / clip-retrieval shards (``embedding_key`` picks their array)."""

    path: str = ""
    format: InputFormat = "delta"
    version: int | None = None
    id_column: str = "id"
    embedding_column: str = "image_emb"
    embedding_dim: int | None = None
    embedding_key: str | None = None

    def validate(self, key: str) -> None:
        _check(bool(self.path), f"{key}.path", "is required (a Delta/Parquet path or table name)")
        _check(self.version is None or self.version >= 0, f"{key}.version", "must be >= 0")
        _check(
            self.version is None or self.format in ("delta", "table"),
            f"{key}.version",
            f"time travel needs a Delta input, not {self.format}",
        )
        keys = SHARDED_EMBEDDING_KEYS.get(self.format)
        if keys is None:
            _check(
                self.embedding_key is None,
                f"{key}.embedding_key",
                f"only applies to format datacomp or clip-retrieval, not {self.format}",
            )
        else:
            _check(
                self.embedding_key is None or self.embedding_key in keys,
                f"{key}.embedding_key",
                f"must be one of {', '.join(keys)} for format {self.format}, "
                f"got {self.embedding_key!r}",
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
    keep_checkpoints: bool = False

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
    """Spherical k-means on a seeded, partition-independent sample: fitted with faiss on the
    driver (``driver``), as Lloyd iterations of Spark aggregations (``distributed``), or the
    latter only when ``k × sample rows`` exceeds ``driver_max_work`` (``auto``)."""

    k: int = 500
    iterations: int = 100
    seed: int = 1234
    sample_size: int | None = None
    max_points_per_centroid: int = 256
    method: KMeansMethod = "driver"
    driver_max_work: int = 2_000_000_000
    centroids_from: str | None = None  # an earlier run (output path or manifest): no fit

    def validate(self, key: str) -> None:
        _check(self.k >= 1, f"{key}.k", f"must be >= 1, got {self.k}")
        self.validate_common(key)
        _check(
            self.sample_size is None or self.sample_size >= self.k,
            f"{key}.sample_size",
            f"must be >= k ({self.k}), got {self.sample_size}: k-means needs a row per centroid",
        )

    def validate_common(self, key: str) -> None:
        """Every key but k."""
        _check(self.iterations >= 1, f"{key}.iterations", "must be >= 1")
        check_kmeans_seed(self.seed, f"{key}.seed")
        _check(
            self.method in KMEANS_METHODS,
            f"{key}.method",
            f"must be one of {', '.join(KMEANS_METHODS)}, got {self.method!r}",
        )
        _check(self.driver_max_work >= 1, f"{key}.driver_max_work", "must be >= 1")
        _check(
            self.sample_size is None or self.sample_size >= 1, f"{key}.sample_size", "must be >= 1"
        )
        _check(self.max_points_per_centroid >= 1, f"{key}.max_points_per_centroid", "must be >= 1")
        _check(
            self.centroids_from is None or bool(self.centroids_from.strip()),
            f"{key}.centroids_from",
            "must not be empty (null = fit k-means)",
        )


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
            _check(
                self.keep_count >= 1,
                f"{key}.keep_count",
                f"must be >= 1, got {self.keep_count} (to keep every row set dbp.enabled=false)",
            )
        _check(0 <= self.balance_ratio <= 1, f"{key}.balance_ratio", "must be in [0, 1]")
        self.kmeans.validate(f"{key}.kmeans")
        self.hierarchy.validate(f"{key}.hierarchy")


@dataclass(frozen=True)
class SemDedupKMeansConfig:
    """SemDeDup's own k-means: the keys of ``dbp.kmeans``; ``k: auto`` = rows / rows_per_cluster."""

    k: int | Literal["auto"] = "auto"
    iterations: int = 20
    seed: int = 1234
    sample_size: int | None = None
    max_points_per_centroid: int = 256
    method: KMeansMethod = "driver"
    driver_max_work: int = 2_000_000_000
    centroids_from: str | None = None  # an earlier run (output path or manifest): no fit

    def validate(self, key: str) -> None:
        _check(
            self.k == "auto" if isinstance(self.k, str) else self.k >= 1,
            f"{key}.k",
            f'must be "auto" (rows / rows_per_cluster) or an integer >= 1, got {self.k!r}',
        )
        self.with_k(self.k if isinstance(self.k, int) else 1).validate(key)

    def with_k(self, k: int) -> KMeansConfig:
        """The k-means to fit, with ``k`` resolved (see ``semdedup.default_k``)."""
        return KMeansConfig(**{**dataclasses.asdict(self), "k": k})


@dataclass(frozen=True)
class SemDedupConfig:
    """SemDeDup: remove rows whose max similarity to an earlier row exceeds 1 - eps."""

    enabled: bool = False
    eps: float = 0.07
    order: Order = "hard"
    seed: int = 1234
    block_size: int = 1024
    rows_per_cluster: int = 10_000
    split_rows: int = 50_000
    keep_by: KeepByConfig | None = None
    border_margin: float = 0.0
    kmeans: SemDedupKMeansConfig = field(default_factory=SemDedupKMeansConfig)

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
        _check(self.split_rows >= 0, f"{key}.split_rows", "must be >= 0 (0 = never split)")
        self.kmeans.validate(f"{key}.kmeans")


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
        """Values are checked even while disabled (enabling it later must not surprise)."""
        if self.keep_fraction is not None:
            _check(
                0 < self.keep_fraction <= 1,
                f"{key}.keep_fraction",
                f"must be in (0, 1], got {self.keep_fraction}",
            )
        if self.enabled:
            _check(
                (self.threshold is None) != (self.keep_fraction is None),
                f"{key}.threshold",
                "set exactly one of threshold and keep_fraction",
            )


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
    tracking: TrackingConfig = field(default_factory=TrackingConfig)
    incremental: IncrementalConfig = field(default_factory=IncrementalConfig)
    run_id: str | None = None

    def validate(self, key: str = "") -> None:
        problems = self.problems()
        if problems:
            raise ConfigError(problems[0])

    def problems(self) -> list[str]:
        """The first failed check of every section (and of ``run_id``), in order."""
        sections = [(f.name, getattr(self, f.name)) for f in dataclasses.fields(self)]
        checks: list[Callable[[], None]] = [
            partial(section.validate, name)
            for name, section in sections
            if hasattr(section, "validate")
        ]
        found = []
        for check in [*checks, self._check_run_id]:
            try:
                check()
            except ConfigError as exc:
                found.append(str(exc))
        return found

    def _check_run_id(self) -> None:
        _check(
            self.run_id is None or RUN_ID.fullmatch(self.run_id) is not None,
            "run_id",
            f"must be 1-128 letters, digits, '.', '_', ':', '+' or '-', starting with a letter "
            f"or digit, got {self.run_id!r}: it names files and Delta commits",
        )

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)
