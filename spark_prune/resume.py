"""Running the stage loop with checkpoints: a rerun after a crash resumes from the last
finished stage (``checkpoints.py`` has the storage and the key rule).

Stages that opt in (``checkpoint = True``: SemDeDup, CLIP score, DBP) have their decision rows,
tables and report persisted when they finish; on a rerun with the same key they are loaded
instead of computed, and the survivors are the rows the stage received minus those it removed
or found invalid. The embed stage needs none (its Delta cache is its checkpoint, appended
idempotently) and validate always runs (cheap; it sets the run's embedding dimension).
"""

from __future__ import annotations

import dataclasses
import importlib
import logging
from collections.abc import Sequence
from typing import Any

from pyspark.sql import DataFrame
from pyspark.sql import functions as F

from spark_prune.checkpoints import Checkpoint, Checkpoints, stage_key
from spark_prune.config import PipelineConfig
from spark_prune.stages.base import INVALID, REMOVED, RunContext, Stage, StageOutput, StageReport

log = logging.getLogger(__name__)


def input_identity(
    cfg: PipelineConfig, version: int | None, files: str | None = None
) -> dict[str, Any]:
    """What every stage's result depends on besides its own config: the input's Delta
    version, or for an input without one its ``files`` (``input_files.files_fingerprint``)."""
    source = cfg.input
    identity = {"path": source.path, "format": source.format, "version": version,
                "id_column": source.id_column, "embedding_column": source.embedding_column,
                "embedding_dim": source.embedding_dim}  # fmt: skip
    if files is not None:
        identity["files"] = files
    if source.embedding_key is not None:
        identity["embedding_key"] = source.embedding_key
    return identity


def stage_keys(
    cfg: PipelineConfig, stages: Sequence[Stage], identity: dict[str, Any], extra: Any = None
) -> dict[str, str]:
    """Each enabled stage's key, chained: a stage's key covers every stage before it."""
    keys: dict[str, str] = {}
    upstream: list[str] = []
    for stage in stages:
        section = getattr(cfg, stage.name, None)
        config = (
            dataclasses.asdict(section)
            if dataclasses.is_dataclass(section) and not isinstance(section, type)
            else None
        )
        keys[stage.name] = stage_key({**identity, "extra": extra}, stage.name, config, upstream)
        upstream = [*upstream, keys[stage.name]]
    return keys


def run_keys(
    cfg: PipelineConfig,
    enabled: Sequence[Stage],
    version: int | None,
    rethreshold: bool,
    files: str | None = None,
) -> dict[str, str]:
    """The stage keys of a run of ``cfg`` over input ``version`` (or ``files``): what a rerun,
    and ``rethreshold`` looking for a run's kept SemDeDup checkpoint, must compute identically."""
    identity = input_identity(cfg, version, files)
    return stage_keys(cfg, enabled, identity, {"rethreshold": rethreshold})


def run_stage(
    ctx: RunContext, stage: Stage, rows: DataFrame, store: Checkpoints | None, key: str
) -> StageOutput:
    """The stage's output: loaded from its checkpoint when one matches ``key``, else computed
    (and then checkpointed)."""
    if store is None or not getattr(stage, "checkpoint", False):
        return stage.run(ctx, rows)
    found = store.load(stage.name, key)
    if found is not None and _holds_the_rows(ctx, stage, rows, found):
        store.resume(stage.name, found)
        return _from_checkpoint(ctx, rows, found)
    output = stage.run(ctx, rows)
    if output.decisions is None:
        return output
    saved = store.save(stage.name, key, Checkpoint(output.decisions, _dump(output.report),
                                                   dict(output.tables)))  # fmt: skip
    return dataclasses.replace(output, decisions=saved.rows, tables=saved.tables)


def _holds_the_rows(ctx: RunContext, stage: Stage, rows: DataFrame, found: Checkpoint) -> bool:
    """The checkpoint has a decision for exactly the rows the stage receives now: a guard, on
    resume only, against an input without a Delta version that changed under the same key (a
    Delta input's version is in the key). One pass over the ids of both."""
    if ctx.input_version is not None:
        return True
    mine = rows.select(F.col(ctx.id_col).alias("_now"))
    stored = found.rows.select(F.col(ctx.id_col).alias("_stored"))
    unmatched = mine.join(stored, F.col("_now") == F.col("_stored"), "full_outer").filter(
        F.col("_now").isNull() | F.col("_stored").isNull()
    )
    if unmatched.limit(1).count() == 0:
        return True
    log.warning("[%s] %s: its checkpoint holds other rows than the stage receives now (the "
                "input changed since it was written); computing the stage again", ctx.run_id,
                stage.name)  # fmt: skip
    return False


def _from_checkpoint(ctx: RunContext, rows: DataFrame, found: Checkpoint) -> StageOutput:
    passed = found.rows.filter(~F.coalesce(F.col(REMOVED), F.lit(False)) & F.col(INVALID).isNull())
    survivors = rows.join(passed.select(ctx.id_col), ctx.id_col, "left_semi")
    return StageOutput(survivors=survivors, report=_load(found.report), decisions=found.rows,
                       tables=found.tables)  # fmt: skip


def _dump(report: StageReport) -> dict[str, Any]:
    cls = type(report)
    return {"class": f"{cls.__module__}:{cls.__qualname__}", "fields": dataclasses.asdict(report)}


def _load(data: dict[str, Any]) -> StageReport:
    module, _, name = str(data["class"]).partition(":")
    cls = getattr(importlib.import_module(module), name)
    report = cls(**data["fields"])
    assert isinstance(report, StageReport)
    return report
