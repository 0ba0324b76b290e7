"""Re-apply another SemDeDup eps from stored ``semdedup_max_sim`` (no similarity recomputed)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from pyspark.sql import DataFrame
from pyspark.sql import functions as F

from spark_prune import contract
from spark_prune.config import ConfigError, PipelineConfig
from spark_prune.config_loader import apply_override, config_from_dict
from spark_prune.runs import OpenRun

STORED_COLUMNS = (
    contract.SEMDEDUP_CLUSTER_ID,
    contract.SEMDEDUP_DIST,
    contract.SEMDEDUP_MAX_SIM,
    contract.SEMDEDUP_PARTNER,
)


def rethreshold_config(
    previous_manifest: dict[str, Any], eps: float, output_path: str, overrides: Sequence[str] = ()
) -> PipelineConfig:
    """The previous run's config, pinned to the Delta version it read, with a new eps/output."""
    raw = dict(previous_manifest["config"])
    if not raw.get("semdedup", {}).get("enabled"):
        raise ConfigError("semdedup.enabled: the previous run did not run SemDeDup; nothing stored")
    raw["run_id"] = None
    raw["embed"] = {**raw["embed"], "enabled": False}
    version = previous_manifest["input"].get("delta_version")
    raw["input"] = {**raw["input"], "version": version}
    if raw["embed"].get("cache_path") or previous_manifest.get("embed"):
        raise ConfigError(
            "embed.enabled: rethreshold of an embedding run: point input at the "
            "embeddings table instead"
        )
    raw["semdedup"] = {**raw["semdedup"], "eps": eps}
    kmeans = raw["semdedup"].get("kmeans") or {}
    if kmeans.get("k") == 0:  # manifests written before `k: auto` spelt it 0
        raw["semdedup"]["kmeans"] = {**kmeans, "k": "auto"}
    # a new location of its own: not the previous run's catalog schema or manifest file
    raw["output"] = {
        **raw["output"],
        "path": output_path,
        "mode": "error",
        "catalog_schema": None,
        "manifest_path": None,
    }
    for item in overrides:
        apply_override(raw, item)
    return config_from_dict(raw)


def stored_semdedup(previous: OpenRun, cfg: PipelineConfig) -> DataFrame:
    """``id, semdedup_*`` of every row that went through SemDeDup in the previous run."""
    decisions = previous.table(contract.DECISIONS)
    return decisions.filter(F.col(contract.SEMDEDUP_CLUSTER_ID).isNotNull()).select(
        cfg.input.id_column, *STORED_COLUMNS
    )
