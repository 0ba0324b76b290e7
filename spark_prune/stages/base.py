"""The stage protocol: what every stage of a run declares, receives and returns.

A stage has a name, the removal reason it records, the per-row decision columns it adds
(declared with their types, so the ``decisions`` table is assembled generically) and the output
tables it owns. ``run`` receives the rows that reached it and returns the survivors, one
decision row per row it received and a typed report. The run is a loop over a registry of
stages (``spark_prune.stages.REGISTRY``); the registry's order is the reason precedence.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol

from pyspark import StorageLevel
from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import types as T

from spark_prune.config import PipelineConfig
from spark_prune.progress import logged_progress

if TYPE_CHECKING:
    from spark_prune.incremental import IncrementalRun

log = logging.getLogger(__name__)

# Columns every stage's decision frame carries besides the id and its declared columns.
REMOVED = "_removed"  # true: this stage removed the row; false: it passed; null: see detail
INVALID = "_invalid"  # why the row is unusable for this stage (reason "invalid"), else null


@dataclass(frozen=True)
class DecisionColumn:
    """A per-row column a stage adds to ``decisions``; ``dtype`` None means the id's type."""

    name: str
    dtype: T.DataType | None

    def field(self, id_type: T.DataType) -> T.StructField:
        return T.StructField(self.name, self.dtype or id_type, True)


@dataclass
class StageReport:
    """What a stage did, for the log and the manifest. Stages subclass it with their facts."""

    stage: str
    rows_in: int | None = None
    removed: int | None = None
    invalid: int | None = None

    def manifest_entries(self) -> Mapping[str, Any]:
        """Sections this report adds to the manifest (merged key by key)."""
        return {}

    def counts(self) -> Mapping[str, int]:
        """Counts beyond the per-reason ones (which come from the written decisions)."""
        return {}


@dataclass
class StageOutput:
    survivors: DataFrame
    report: StageReport
    # id, the declared columns, REMOVED and INVALID: one row per row the stage received
    decisions: DataFrame | None = None
    # the output tables the stage owns (by contract name)
    tables: Mapping[str, DataFrame] = field(default_factory=dict)
    # stages that add columns to every input row (embed): the rows ``pruned`` is cut from
    full_rows: DataFrame | None = None


class Stage(Protocol):
    name: str
    reason: str | None
    columns: tuple[DecisionColumn, ...]
    tables: Mapping[str, T.StructType]  # written empty, with this schema, when disabled

    def enabled(self, cfg: PipelineConfig) -> bool: ...

    def input_columns(self, cfg: PipelineConfig) -> list[str]:
        """Input columns the stage reads besides the id and the embedding."""
        ...

    def run(self, ctx: RunContext, rows: DataFrame) -> StageOutput: ...


@dataclass(frozen=True)
class StoredSemDedup:
    """An earlier run's SemDeDup columns (``id, semdedup_*`` of every row SemDeDup saw), which
    ``rethreshold`` re-applies a new eps to, and where they were read (for the log/manifest)."""

    rows: DataFrame
    source: str


@dataclass
class RunContext:
    """What every stage of one run shares: the session, the config and run-wide facts."""

    spark: SparkSession
    cfg: PipelineConfig
    run_id: str
    needed_columns: list[str] = field(default_factory=list)
    embedding_dim: int | None = None
    rows_read: int | None = None
    input_version: int | None = None  # the Delta version read (None for Parquet)
    stored_semdedup: StoredSemDedup | None = None  # rethreshold: an earlier run's similarities
    previous: IncrementalRun | None = None  # incremental: the previous run and the changes
    # every valid row, before any stage removed some by id (a plain filter of the input): a
    # few rows picked by id are cheaper to take from here than from a join's survivors
    valid_rows: DataFrame | None = None
    refit_from: IncrementalRun | None = None  # incremental.refit auto: a full run instead
    timings: dict[str, float] = field(default_factory=dict)
    cached: list[DataFrame] = field(default_factory=list)
    progress: bool = True

    @property
    def id_col(self) -> str:
        return self.cfg.input.id_column

    @property
    def emb_col(self) -> str:
        return self.cfg.input.embedding_column

    @property
    def dim(self) -> int:
        if self.embedding_dim is None:
            raise RuntimeError("the embedding dimension is known only after validation")
        return self.embedding_dim

    def persist(self, df: DataFrame) -> DataFrame:
        """Cache an intermediate result that several later steps read (released at the end)."""
        self.cached.append(df.persist(StorageLevel.MEMORY_AND_DISK))
        return df

    def adopt(self, df: DataFrame) -> DataFrame:
        """Take over a DataFrame a stage function already persisted."""
        self.cached.append(df)
        return df

    def release(self) -> None:
        for df in self.cached:
            df.unpersist()
        self.cached.clear()

    @contextmanager
    def timed(self, name: str) -> Iterator[None]:
        """Log the step, its Spark task progress, and record its seconds under ``name``."""
        log.info("[%s] %s ...", self.run_id, name)
        start = time.perf_counter()
        if self.progress:
            with logged_progress(self.spark, f"[{self.run_id}] {name}"):
                yield
        else:
            yield
        seconds = time.perf_counter() - start
        self.timings[name] = round(seconds, 3)
        log.info("[%s] %s done in %.1fs", self.run_id, name, seconds)
