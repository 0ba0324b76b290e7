"""The stages of a run, in the method's order; this order is also the reason precedence.

Adding a stage (say a caption-length filter) is one new module with a class following
``spark_prune.stages.base.Stage`` and one line here.
"""

from __future__ import annotations

from spark_prune.stages.base import (
    DecisionColumn,
    RunContext,
    Stage,
    StageOutput,
    StageReport,
    StoredSemDedup,
)
from spark_prune.stages.clip_filter import ClipFilterStage
from spark_prune.stages.dbp import DBPStage
from spark_prune.stages.embed import EmbedStage
from spark_prune.stages.semdedup import SemDedupStage
from spark_prune.stages.validate import ValidateStage

REGISTRY: tuple[Stage, ...] = (
    EmbedStage(),
    ValidateStage(),
    SemDedupStage(),
    ClipFilterStage(),
    DBPStage(),
)

__all__ = [
    "REGISTRY",
    "DecisionColumn",
    "RunContext",
    "Stage",
    "StageOutput",
    "StageReport",
    "StoredSemDedup",
]
