"""spark_prune: SemDeDup, CLIP-score filtering and density-based pruning on Spark + Delta Lake.

The public surface is small; submodules hold one concern each (config, session, pipeline, ...).
"""

from __future__ import annotations

from typing import Any

__version__ = "0.1.0"
__all__ = ["PipelineConfig", "get_spark", "load_config", "run"]


def __getattr__(name: str) -> Any:
    # Lazy, so `import spark_prune.core.quotas` works without pyspark installed.
    if name == "PipelineConfig":
        from spark_prune.config import PipelineConfig

        return PipelineConfig
    if name == "load_config":
        from spark_prune.config_loader import load_config

        return load_config
    if name == "get_spark":
        from spark_prune.session import get_spark

        return get_spark
    if name == "run":
        from spark_prune.pipeline import run

        return run
    raise AttributeError(name)
