"""Typed, validated run configuration loaded from YAML.

Every section is a frozen dataclass. Unknown keys, wrong types and bad values raise
``ConfigError`` naming the dotted key (``dbp.tau``), so a typo never silently falls back to a
default. ``--set dotted.key=value`` overrides are parsed as YAML scalars.
"""

from __future__ import annotations

import dataclasses
import types
import typing
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, Union, get_args, get_origin

import yaml

from spark_prune.errors import ConfigError as ConfigError  # re-exported: the historic home

InputFormat = Literal["delta", "parquet", "table"]
WriteMode = Literal["error", "overwrite"]
Strategy = Literal["dbp", "uniform", "ssp", "random"]
Order = Literal["hard", "easy", "random"]


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


@dataclass(frozen=True)
class SemDedupConfig:
    """SemDeDup: remove rows whose max similarity to an earlier row exceeds 1 - eps."""

    enabled: bool = False
    eps: float = 0.07
    order: Order = "hard"
    seed: int = 1234
    block_size: int = 1024
    rows_per_cluster: int = 10_000
    kmeans: KMeansConfig = field(default_factory=lambda: KMeansConfig(k=0, iterations=20))

    def validate(self, key: str) -> None:
        _check(0 <= self.eps < 2, f"{key}.eps", f"must be in [0, 2), got {self.eps}")
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
        raw = _read_yaml(Path(path))
    for item in overrides:
        apply_override(raw, item)
    return config_from_dict(raw)


def _read_yaml(path: Path) -> dict[str, Any]:
    """The config file's mapping; a missing, unreadable or invalid file is a ConfigError."""
    try:
        text = path.read_text()
    except FileNotFoundError:
        raise ConfigError(f"--config {str(path)!r}: no such file") from None
    except IsADirectoryError:
        raise ConfigError(f"--config {str(path)!r}: is a directory, expected a YAML file") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"--config {str(path)!r}: cannot be read ({exc})") from None
    try:
        loaded = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        raise ConfigError(f"--config {str(path)!r}: invalid YAML{where}: {problem}") from None
    if loaded is None:
        return {}
    if not isinstance(loaded, dict):
        raise ConfigError(f"--config {str(path)!r}: the top level must be a mapping of sections")
    return loaded


def config_from_dict(raw: Mapping[str, Any]) -> PipelineConfig:
    cfg = _build(PipelineConfig, raw, "")
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


def _build(cls: type, raw: Any, prefix: str) -> Any:
    if raw is None:
        raw = {}
    if not isinstance(raw, Mapping):
        raise ConfigError(f"{prefix or 'config'}: expected a mapping, got {raw!r}")
    hints = typing.get_type_hints(cls)
    known = {f.name for f in dataclasses.fields(cls)}
    unknown = sorted(set(raw) - known)
    if unknown:
        where = f"{prefix}." if prefix else ""
        raise ConfigError(
            f"unknown key {where}{unknown[0]!s}; known keys here: {', '.join(sorted(known))}"
        )
    kwargs = {name: _coerce(hints[name], value, _join(prefix, name)) for name, value in raw.items()}
    return cls(**kwargs)


def _join(prefix: str, name: str) -> str:
    return f"{prefix}.{name}" if prefix else name


def _coerce(tp: Any, value: Any, key: str) -> Any:
    origin = get_origin(tp)
    if origin in (Union, types.UnionType):
        options = get_args(tp)
        if value is None and type(None) in options:
            return None
        errors = []
        for option in options:
            if option is type(None):
                continue
            try:
                return _coerce(option, value, key)
            except ConfigError as exc:
                errors.append(str(exc))
        raise ConfigError(errors[0] if errors else f"{key}: must not be null")
    if origin is Literal:
        allowed = get_args(tp)
        if value not in allowed:
            raise ConfigError(
                f"{key}: must be one of {', '.join(map(str, allowed))}, got {value!r}"
            )
        return value
    if dataclasses.is_dataclass(tp) and isinstance(tp, type):
        return _build(tp, value, key)
    if origin is dict:
        if not isinstance(value, Mapping):
            raise ConfigError(f"{key}: expected a mapping, got {value!r}")
        return {str(k): str(v) for k, v in value.items()}
    if origin in (list, Sequence, typing.Sequence) or tp is Sequence:
        if not isinstance(value, (list, tuple)):
            raise ConfigError(f"{key}: expected a list, got {value!r}")
        (item_tp,) = get_args(tp) or (Any,)
        return tuple(_coerce(item_tp, v, f"{key}[{i}]") for i, v in enumerate(value))
    return _coerce_scalar(tp, value, key)


def _coerce_scalar(tp: Any, value: Any, key: str) -> Any:
    if tp is Any:
        return value
    if value is None:
        raise ConfigError(f"{key}: must not be null")
    if tp is bool:
        if isinstance(value, bool):
            return value
        raise ConfigError(f"{key}: expected true or false, got {value!r}")
    if tp is int:
        if isinstance(value, int) and not isinstance(value, bool):
            return value
        raise ConfigError(f"{key}: expected an integer, got {value!r}")
    if tp is float:
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            return float(value)
        raise ConfigError(f"{key}: expected a number, got {value!r}")
    if tp is str:
        if isinstance(value, str):
            return value
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            return str(value)
        raise ConfigError(f"{key}: expected a string, got {value!r}")
    raise ConfigError(f"{key}: unsupported type {tp!r}")
