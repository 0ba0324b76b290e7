"""Open a finished run: its manifest and its tables at the Delta versions the manifest recorded.

``sql``, ``report``, ``rethreshold`` and the notebook all read a run through ``open_run``, so
they see the same tables whether the run went to a path or a catalog schema, and a table
written again later does not change what an old run shows.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from pyspark.sql import DataFrame, SparkSession

from spark_prune import contract, manifest
from spark_prune.lake import DeltaLocation, text_exists


class RunNotFoundError(FileNotFoundError):
    """No manifest where a run was expected (a wrong path, or a run that did not finish)."""


@dataclass
class OpenRun:
    location: str
    manifest: dict[str, Any]
    spark: SparkSession
    _tables: dict[str, DataFrame] = field(default_factory=dict)

    @property
    def run_id(self) -> str:
        return str(self.manifest.get("run_id"))

    @property
    def id_column(self) -> str:
        return str((self.manifest.get("input") or {}).get("id_column") or "id")

    @property
    def table_names(self) -> list[str]:
        return list(self.outputs)

    @property
    def outputs(self) -> Mapping[str, Mapping[str, Any]]:
        return dict(self.manifest.get("outputs") or {})

    def table(self, name: str) -> DataFrame:
        """A run table where the manifest says it is (path or catalog name), at its version."""
        if name not in self._tables:
            info = self.outputs.get(name)
            if info is None:
                raise KeyError(
                    f"run {self.location!r} has no table {name!r}; it has {self.table_names}"
                )
            table = DeltaLocation(str(info["location"]))
            version = info.get("delta_version")
            self._tables[name] = table.read(self.spark, None if version is None else int(version))
        return self._tables[name]

    def register_views(self) -> list[str]:
        """Temp views named like the run's tables (``pruned``, ``decisions``, ``clusters``)."""
        for name in self.table_names:
            self.table(name).createOrReplaceTempView(name)
        return self.table_names


def manifest_path_for(location: str) -> str:
    """A run location is its output directory or its manifest file itself."""
    if location.endswith(".json"):
        return location
    return f"{location.rstrip('/')}/{contract.MANIFEST_FILE}"


def open_run(spark: SparkSession, location: str) -> OpenRun:
    """The run at ``location`` (an output directory, or the manifest path of a run written
    to a catalog schema or with its own ``output.manifest_path``)."""
    path = manifest_path_for(location)
    if not text_exists(spark, path):
        raise RunNotFoundError(
            f"no run at {location!r}: {path} does not exist (a wrong path, or a run that did "
            "not finish: rerun it)"
        )
    return OpenRun(location=location.rstrip("/"), manifest=manifest.read(spark, path), spark=spark)
