"""Open a finished run: its manifest and its tables at the Delta versions the manifest recorded.

``sql``, ``report``, ``rethreshold`` and the notebook all read a run through ``open_run``, so
they see the same tables whether the run went to a path or a catalog schema, and a table
written again later does not change what an old run shows.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from pyspark.sql import DataFrame, SparkSession

from spark_prune import contract
from spark_prune.errors import IncompleteRunError, RunMismatchError, first_line, is_spark_error
from spark_prune.errors import RunNotFoundError as RunNotFoundError  # re-exported
from spark_prune.io import absolute_local_path
from spark_prune.lake import (
    DeltaLocation,
    is_local_path,
    is_table_name,
    local_path,
    parse_user_metadata,
    read_text,
)

log = logging.getLogger(__name__)


@dataclass
class OpenRun:
    location: str
    manifest: dict[str, Any]
    spark: SparkSession
    named_by: str = "--run"  # how errors name the run: the flag or config key that gave it
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
            table = DeltaLocation(self._where(name, str(info["location"])))
            version = info.get("delta_version")
            with self._read_errors(name, table.ref):
                if version is not None:
                    self._check_run_id(name, table, int(version))
                frame = table.read(self.spark, None if version is None else int(version))
            self._tables[name] = frame
        return self._tables[name]

    def _where(self, name: str, recorded: str) -> str:
        """The recorded location, or the table beside the manifest when the run directory was
        copied or moved (its manifest still names the original; a copy keeps the versions)."""
        if is_table_name(recorded) or self.location.endswith(".json"):
            return recorded
        here = f"{self.location}/{name}"
        if _same_path(recorded, here) or not DeltaLocation(here).exists(self.spark):
            return recorded
        log.info("run %s was copied from %s: reading its own %s table", self.location,
                 recorded, name)  # fmt: skip
        return here

    def _check_run_id(self, name: str, table: DeltaLocation, version: int) -> None:
        """The commit at ``version`` carries this run's id in its ``userMetadata`` (commits
        without one are not checked)."""
        commits = table.history(self.spark).filter(f"version = {version}").collect()
        found = parse_user_metadata(commits[0]["userMetadata"]).get("run_id") if commits else None
        if found is not None and found != self.run_id:
            raise RunMismatchError(
                f"{self.named_by} {self.location!r}: table {name} at version {version} was "
                f"written by run {found!r}, not by the manifest's run {self.run_id!r}; the run's "
                f"files were changed by hand: rerun it"
            )

    @contextmanager
    def _read_errors(self, name: str, ref: str) -> Iterator[None]:
        try:
            yield
        except Exception as exc:
            if not is_spark_error(exc):
                raise
            raise RunNotFoundError(
                f"{self.named_by} {self.location!r}: its {name} table ({ref}) at the version the "
                f"manifest names cannot be read: {first_line(exc)}"
            ) from exc

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


def report_path_for(location: str) -> str:
    """Where ``report`` writes by default: ``report.html`` in the run's directory (or beside
    its ``manifest.json``); beside any other manifest file (``_previous_runs/<run id>.json``)
    ``<run id>.report.html``, so it overwrites no other run's report."""
    folder, slash, name = manifest_path_for(location).rpartition("/")
    if name != contract.MANIFEST_FILE:
        name = f"{name.removesuffix('.json')}.{contract.REPORT_FILE}"
        return f"{folder}{slash}{name}"
    return f"{folder}{slash}{contract.REPORT_FILE}"


def open_run(spark: SparkSession, location: str, named_by: str = "--run") -> OpenRun:
    """The run at ``location`` (an output directory, or the manifest path of a run written
    to a catalog schema or with its own ``output.manifest_path``).

    No manifest: ``RunNotFoundError`` when nothing is there, ``IncompleteRunError`` when tables
    are (a run that was killed before publishing, or is still running). Errors name the run as
    ``named_by`` (``--run``, or e.g. ``incremental.previous_run: run``).
    """
    path = manifest_path_for(location)
    try:
        text = read_text(spark, path)
    except Exception as exc:
        if not (isinstance(exc, OSError) or is_spark_error(exc)):
            raise
        raise _missing_run(spark, location, named_by) from None
    try:
        doc = json.loads(text)
    except json.JSONDecodeError as exc:
        raise RunNotFoundError(
            f"{named_by} {location!r}: {path} is not valid JSON ({exc})"
        ) from None
    if not isinstance(doc, dict) or "outputs" not in doc:
        raise RunNotFoundError(f"{named_by} {location!r}: {path} is not a spark_prune manifest")
    return OpenRun(location=location.rstrip("/"), manifest=doc, spark=spark, named_by=named_by)


def check_run_exists(location: str) -> None:
    """Before a session starts: a local ``--run`` that does not exist (the usual typo), is a
    file, or holds no manifest is an error at once, not after Spark's start-up; ``open_run``
    checks everything else."""
    root = location.rstrip("/")
    if not is_local_path(root) or local_path(manifest_path_for(root)).is_file():
        return
    raise _missing_run(None, location)


def _missing_run(
    spark: SparkSession | None, location: str, named_by: str = "--run"
) -> RunNotFoundError:
    """Why ``location`` holds no readable run (``spark``: None for local paths only)."""
    root = location.rstrip("/")
    local = is_local_path(root)
    if local and not local_path(root).exists():
        return RunNotFoundError(
            f"{named_by} {location!r} does not exist; give the output.path of a finished run"
        )
    if local and not local_path(root).is_dir():
        return RunNotFoundError(f"{named_by} {location!r} is a file; give the run's directory")
    tables = [t for t in contract.TABLES if _table_there(spark, f"{root}/{t}")]
    if tables:
        return IncompleteRunError(
            f"{named_by} {location!r} is an incomplete run: it has {', '.join(tables)} but no "
            f"{contract.MANIFEST_FILE} (killed before it published, or still running); rerun "
            f"the same 'spark-prune run' to finish it"
        )
    return RunNotFoundError(f"{named_by} {location!r} holds no run (no {contract.MANIFEST_FILE})")


def _table_there(spark: SparkSession | None, path: str) -> bool:
    if spark is None:  # a local path, before Spark starts: its Delta log is enough
        return (local_path(path) / "_delta_log").is_dir()
    return DeltaLocation(path).exists(spark)


def _same_path(a: str, b: str) -> bool:
    def norm(p: str) -> str:
        if not is_local_path(p):
            return p.rstrip("/")
        return str(local_path(absolute_local_path(p))).rstrip("/")

    return norm(a) == norm(b)
