"""Stage checkpoints: each finished stage's per-row result, so a rerun resumes after a crash.

A checkpoint is a Delta table ``<output>/_stages/<stage>``. Its marker is the commit's
``userMetadata``: the stage's key and report, written in the same atomic commit as the rows, so
a checkpoint is either complete with its marker or absent. The key is a hash of

* the input's identity (path, format, the Delta version read, id and embedding columns),
* the stage's resolved config (its section of the config, as the manifest records it),
* the keys of the stages before it (so a change upstream invalidates everything after it).

A rerun of the same command finds each stage's checkpoint with a matching key and loads it
instead of computing ("resumed from checkpoint" in the log); a changed config section or input
version changes the key of exactly that stage and the ones after it. ``--fresh`` ignores them.
After a successful publish ``_stages/`` is removed, unless ``output.keep_checkpoints``.
"""

from __future__ import annotations

import hashlib
import json
import logging
import shutil
from dataclasses import dataclass, field
from typing import Any

from pyspark.sql import DataFrame, SparkSession

from spark_prune.lake import (
    DeltaLocation,
    hadoop_file,
    is_local_path,
    local_path,
    parse_user_metadata,
)

log = logging.getLogger(__name__)

STAGES_DIR = "_stages"
MARKER = "spark_prune_checkpoint"


def stage_key(identity: dict[str, Any], stage: str, config: Any, upstream: list[str]) -> str:
    """The checkpoint key of one stage (a hex digest)."""
    blob = json.dumps([identity, stage, config, upstream], sort_keys=True, default=jsonable)
    return hashlib.sha256(blob.encode()).hexdigest()[:24]


def jsonable(value: Any) -> Any:
    """numpy scalars and arrays as Python values; anything else as its string."""
    if hasattr(value, "tolist"):
        return value.tolist()
    return str(value)


@dataclass
class Checkpoints:
    """The checkpoints of one output location."""

    spark: SparkSession
    output_path: str
    run_id: str
    fresh: bool = False
    resumed: list[str] = field(default_factory=list)

    @property
    def root(self) -> str:
        return f"{self.output_path.rstrip('/')}/{STAGES_DIR}"

    def location(self, stage: str, table: str | None = None) -> str:
        return f"{self.root}/{stage}" + (f"__{table}" if table else "")

    def load(self, stage: str, key: str) -> Checkpoint | None:
        """The stage's checkpoint when one with this key is there (None with ``fresh``)."""
        if self.fresh:
            return None
        found = self._read(self.location(stage), key)
        if found is None:
            return None
        rows, marker = found
        tables = {}
        for name in marker.get("tables") or []:
            table = self._read(self.location(stage, name), key)
            if table is None:
                return None
            tables[name] = table[0]
        return Checkpoint(rows, dict(marker.get("report") or {}), tables, marker.get("run_id"))

    def resume(self, stage: str, found: Checkpoint) -> None:
        """Record and log that ``stage`` resumes from ``found`` (after the caller's checks)."""
        self.resumed.append(stage)
        log.info("[%s] %s: resumed from checkpoint %s (written by run %s)", self.run_id, stage,
                 self.location(stage), found.written_by)  # fmt: skip

    def _read(self, where: str, key: str) -> tuple[DataFrame, dict[str, Any]] | None:
        table = DeltaLocation(where)
        if not table.exists(self.spark):
            return None
        commit = table.last_commit(self.spark)
        marker = parse_user_metadata(commit["userMetadata"])
        if not marker.get(MARKER) or marker.get("key") != key:
            log.info("[%s] checkpoint %s is for other inputs or config: recomputing",
                     self.run_id, where)  # fmt: skip
            return None
        return table.read(self.spark, int(commit["version"])), marker

    def save(self, stage: str, key: str, checkpoint: Checkpoint) -> Checkpoint:
        """Write the stage's tables, then its rows with the marker (the stage's commit point),
        and return them read back from the checkpoint."""
        marker = {MARKER: True, "key": key, "run_id": self.run_id, "stage": stage}
        tables = {}
        for name, frame in checkpoint.tables.items():
            table = DeltaLocation(self.location(stage, name))
            tables[name] = table.read(self.spark, table.write(frame, marker))
        full = {**marker, "report": checkpoint.report, "tables": sorted(checkpoint.tables)}
        table = DeltaLocation(self.location(stage))
        version = table.write(checkpoint.rows, json.loads(json.dumps(full, default=jsonable)))
        return Checkpoint(table.read(self.spark, version), checkpoint.report, tables)

    def clean(self) -> None:
        """Remove every checkpoint of this output (after a successful publish)."""
        if is_local_path(self.root):
            shutil.rmtree(local_path(self.root), ignore_errors=True)
            return
        fs, path = hadoop_file(self.spark, self.root)
        fs.delete(path, True)


@dataclass
class Checkpoint:
    """One stage's persisted result: its decision rows, its report (as a dict), its tables."""

    rows: DataFrame
    report: dict[str, Any]
    tables: dict[str, DataFrame] = field(default_factory=dict)
    written_by: str | None = None  # the run id in its marker
