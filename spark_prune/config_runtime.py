"""Config sections of what runs around the pruning: the embedding model (``embed:``), the
local Spark session (``spark:``) and MLflow tracking (``tracking:``).

They live outside ``config.py`` to keep that module readable; :mod:`spark_prune.config`
re-exports them.
"""

from __future__ import annotations

import importlib.util
import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import PurePath
from typing import Literal

from spark_prune.config_sections import check as _check

SPARK_LOG_LEVELS = ("ALL", "DEBUG", "INFO", "WARN", "ERROR", "FATAL", "OFF", "TRACE")


@dataclass(frozen=True)
class EmbedConfig:
    """open_clip embedding stage (model loaded once per Python worker)."""

    enabled: bool = False
    model: str = "ViT-B-32"
    pretrained: str | None = None
    checkpoint: str | None = None
    model_config: str | None = None
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
        """Values are checked even while disabled (``spark-prune embed`` runs the stage
        whatever ``enabled`` says); what a run needs is :meth:`check_ready`."""
        _check(self.batch_size >= 1, f"{key}.batch_size", "must be >= 1")
        _check(
            self.pretrained is None or self.checkpoint is None,
            f"{key}.checkpoint",
            "set pretrained or checkpoint, not both",
        )
        _check(
            self.model_config is None or PurePath(self.model_config).name == f"{self.model}.json",
            f"{key}.model_config",
            f"must be a file named {self.model}.json (open_clip names a model by its config file)",
        )
        for name, values in (("image_mean", self.image_mean), ("image_std", self.image_std)):
            if values is None:
                continue
            _check(
                len(values) == 3 and all(math.isfinite(v) for v in values),
                f"{key}.{name}",
                f"must be three finite numbers (R, G, B), got {list(values)}",
            )
        if self.image_std is not None:
            _check(
                all(v > 0 for v in self.image_std),
                f"{key}.image_std",
                f"must be > 0 per channel, got {list(self.image_std)}",
            )

    def check_ready(self, key: str = "embed") -> None:
        """What embedding needs besides valid values: a column to embed and real weights.
        Checked when the stage is about to run, not on load (``conf/demo.yaml`` is a template
        whose checkpoint the demo fills in)."""
        _check(
            self.image_column is not None or self.text_column is not None,
            f"{key}.image_column",
            "set image_column, text_column or both",
        )
        _check(
            self.pretrained is not None
            or self.checkpoint is not None
            or self.model.startswith(("hf-hub:", "local-dir:")),
            f"{key}.pretrained",
            f"model {self.model!r} has no weights: set {key}.pretrained (an open_clip tag) or "
            f"{key}.checkpoint (a local .pt path); random weights are never used",
        )


@dataclass(frozen=True)
class SparkConfig:
    """A local session's settings; ``conf`` also reaches a session that already runs (its
    runtime-settable keys only: ``session.get_spark``)."""

    master: str | None = None
    app_name: str = "spark_prune"
    conf: dict[str, str] = field(default_factory=dict)
    log_level: str = "WARN"

    def validate(self, key: str) -> None:
        _check(
            self.log_level.upper() in SPARK_LOG_LEVELS,
            f"{key}.log_level",
            f"must be one of {', '.join(SPARK_LOG_LEVELS)}, got {self.log_level!r}",
        )


@dataclass(frozen=True)
class TrackingConfig:
    """MLflow run tracking. ``mlflow: null`` tracks only when MLFLOW_TRACKING_URI is set."""

    mlflow: bool | None = None
    experiment: str | None = None
    run_name: str | None = None

    def validate(self, key: str) -> None:
        _check(
            self.mlflow is not True or importlib.util.find_spec("mlflow") is not None,
            f"{key}.mlflow",
            "is true but mlflow is not installed (pip install 'spark-prune[tracking]')",
        )
        _check(
            self.experiment is None or bool(self.experiment.strip()),
            f"{key}.experiment",
            "must not be empty (null = MLflow's default experiment)",
        )
