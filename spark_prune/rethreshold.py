"""Re-apply another SemDeDup eps from stored ``semdedup_max_sim`` (no similarity recomputed).

The stored values come from the previous run's SemDeDup checkpoint when it kept its checkpoints
(``output.keep_checkpoints``) and the checkpoint's key matches that run's config and input
version; otherwise from its ``decisions`` table at the version its manifest recorded. Both hold
the same columns; the checkpoint is SemDeDup's own result, read without the other stages' rows.
"""

from __future__ import annotations

import copy
import logging
from collections.abc import Sequence
from typing import Any

from pyspark.sql import DataFrame
from pyspark.sql import functions as F

from spark_prune import contract
from spark_prune.checkpoints import Checkpoints
from spark_prune.config import ConfigError, PipelineConfig
from spark_prune.config_loader import apply_override, config_from_dict, config_problems
from spark_prune.errors import UsageError, UserError
from spark_prune.resume import run_keys
from spark_prune.runs import OpenRun
from spark_prune.stages import REGISTRY, StoredSemDedup
from spark_prune.stages.semdedup import SemDedupStage

log = logging.getLogger(__name__)

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
    raw = copy.deepcopy(previous_manifest["config"])  # --set must not edit the manifest read
    if not raw.get("semdedup", {}).get("enabled"):
        raise UserError(
            "--run: that run did not run SemDeDup (its semdedup.enabled was false): no stored "
            "similarities to re-threshold"
        )
    raw["run_id"] = None
    raw["embed"] = _embeddings_from_the_cache(raw["embed"], previous_manifest.get("embed"))
    version = previous_manifest["input"].get("delta_version")
    raw["input"] = {**raw["input"], "version": version}
    raw = _with_auto_k(raw)
    raw["semdedup"] = {**raw["semdedup"], "eps": eps}
    # not an incremental run: every stored result is at the pinned version (the centroids an
    # incremental run froze stay in its dbp / semdedup kmeans.centroids_from)
    not_incremental = {"previous_run": None, "from_output": False}
    raw["incremental"] = {**(raw.get("incremental") or {}), **not_incremental}
    # a new location of its own: not the previous run's catalog schema or manifest file
    raw["output"] = {
        **raw["output"],
        "path": output_path,
        "mode": "error",
        "catalog_schema": None,
        "manifest_path": None,
    }
    as_it_ran = config_problems(raw)  # the previous run's own config, under today's checks
    for item in overrides:
        check_not_semdedup(item)
        apply_override(raw, item)
    new = [problem for problem in config_problems(raw) if problem not in as_it_ran]
    if new:  # a mistake in --set, not one of the old run's
        raise ConfigError(new[0])
    return config_from_dict(raw, strict=False)


def check_not_semdedup(item: str) -> None:
    """SemDeDup's stored similarities are reused as they are: a ``--set semdedup.*`` would be
    recorded in the manifest without having been applied."""
    key = item.split("=", 1)[0].strip()
    if key == "semdedup" or key.startswith("semdedup."):
        raise UsageError(
            f"--set {key}: rethreshold reuses the run's SemDeDup similarities and changes only "
            f"its eps (--eps); to change other SemDeDup settings, run 'spark-prune run'"
        )


def _embeddings_from_the_cache(embed: dict[str, Any], embedded: Any) -> dict[str, Any]:
    """The embed section of a rethreshold: off when the previous run read embeddings from its
    input; when it embedded them, on and pointed at the cache it wrote (the manifest's
    ``embed.cache_path``), where every row's embedding already is, so nothing is embedded
    again."""
    if not embedded:
        return {**embed, "enabled": False}
    cache = embedded.get("cache_path") if isinstance(embedded, dict) else None
    if not cache:
        raise UserError(
            "--run: that run embedded its rows but its manifest names no embed.cache_path; "
            "rerun it, or point input.path at a table holding the embeddings"
        )
    return {**embed, "enabled": True, "cache_path": cache}


def stored_semdedup(previous: OpenRun, cfg: PipelineConfig) -> StoredSemDedup:
    """``id, semdedup_*`` of every row that went through SemDeDup in the previous run."""
    found = _semdedup_checkpoint(previous)
    if found is not None:
        rows, source = found
    else:
        rows = previous.table(contract.DECISIONS)
        version = previous.outputs[contract.DECISIONS].get("delta_version")
        source = f"decisions of {previous.location} (version {version})"
    log.info("rethreshold: stored SemDeDup similarities from %s", source)
    seen = rows.filter(F.col(contract.SEMDEDUP_CLUSTER_ID).isNotNull())
    return StoredSemDedup(seen.select(cfg.input.id_column, *STORED_COLUMNS), source)


def _semdedup_checkpoint(previous: OpenRun) -> tuple[DataFrame, str] | None:
    """The previous run's kept SemDeDup checkpoint, when its key is that run's SemDeDup key."""
    prev_cfg = config_from_dict(_with_auto_k(dict(previous.manifest["config"])), strict=False)
    root = prev_cfg.output.path
    if not root:
        return None
    if not previous.location.endswith(".json"):
        root = previous.location  # a copied or moved run directory keeps its _stages beside it
    version = previous.manifest["input"].get("delta_version")
    was_rethreshold = bool(
        (previous.manifest.get("semdedup") or {}).get("reused_from_previous_run")
    )
    enabled = [stage for stage in REGISTRY if stage.enabled(prev_cfg)]
    files = previous.manifest["input"].get("files_fingerprint")
    keys = run_keys(prev_cfg, enabled, version, was_rethreshold, files)
    store = Checkpoints(previous.spark, root, run_id=f"rethreshold of {previous.run_id}")
    found = store.load(SemDedupStage.name, keys[SemDedupStage.name])
    if found is None:
        return None
    return found.rows, f"SemDeDup checkpoint {store.location(SemDedupStage.name)}"


def _with_auto_k(raw: dict[str, Any]) -> dict[str, Any]:
    """Manifests written before ``k: auto`` spelt it 0."""
    semdedup = dict(raw.get("semdedup") or {})
    kmeans = semdedup.get("kmeans") or {}
    if kmeans.get("k") == 0:
        semdedup["kmeans"] = {**kmeans, "k": "auto"}
    return {**raw, "semdedup": semdedup}
