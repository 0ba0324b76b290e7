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

from spark_prune.io import delta_exists, is_local_path, local_path

log = logging.getLogger(__name__)

STAGES_DIR = "_stages"
MARKER = "spark_prune_checkpoint"


def stage_key(identity: dict[str, Any], stage: str, config: Any, upstream: list[str]) -> str:
    """The checkpoint key of one stage (a hex digest)."""
    blob = json.dumps([identity, stage, config, upstream], sort_keys=True, default=str)
    return hashlib.sha256(blob.encode()).hexdigest()[:24]


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

    def location(self, stage: str) -> str:
        return f"{self.root}/{stage}"

    def load(self, stage: str, key: str) -> tuple[DataFrame, dict[str, Any]] | None:
        """The stage's rows and report when a checkpoint with this key is there."""
        if self.fresh:
            return None
        where = self.location(stage)
        if not delta_exists(self.spark, where):
            return None
        marker = self._marker(where)
        if marker is None or marker.get("key") != key:
            log.info("checkpoint of %s is for other inputs or config: recomputing", stage)
            return None
        rows = self.spark.read.format("delta").option("versionAsOf", marker["_version"]).load(where)
        self.resumed.append(stage)
        log.info(
            "[%s] %s: resumed from checkpoint %s (written by run %s)",
            self.run_id, stage, where, marker.get("run_id"),
        )  # fmt: skip
        return rows, dict(marker.get("report") or {})

    def save(self, stage: str, key: str, rows: DataFrame, report: dict[str, Any]) -> DataFrame:
        """Write the stage's rows with their marker (one commit) and return them read back."""
        where = self.location(stage)
        marker = {MARKER: True, "key": key, "run_id": self.run_id, "stage": stage,
                  "report": report}  # fmt: skip
        (
            rows.write.format("delta")
            .mode("overwrite")
            .option("overwriteSchema", "true")
            .option("userMetadata", json.dumps(marker, sort_keys=True, default=str))
            .save(where)
        )
        return self.spark.read.format("delta").load(where)

    def _marker(self, where: str) -> dict[str, Any] | None:
        row = self.spark.sql(f"DESCRIBE HISTORY delta.`{where}` LIMIT 1").collect()[0]
        try:
            marker = json.loads(row["userMetadata"] or "null")
        except json.JSONDecodeError:
            return None
        if not isinstance(marker, dict) or not marker.get(MARKER):
            return None
        marker["_version"] = int(row["version"])
        return marker

    def clean(self) -> None:
        """Remove every checkpoint of this output (after a successful publish)."""
        if is_local_path(self.root):
            shutil.rmtree(local_path(self.root), ignore_errors=True)
            return
        jvm: Any = self.spark.sparkContext._jvm
        path = jvm.org.apache.hadoop.fs.Path(self.root)
        fs = path.getFileSystem(self.spark.sparkContext._jsc.hadoopConfiguration())
        fs.delete(path, True)
