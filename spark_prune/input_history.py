"""Rows added and deleted between two input versions without a change data feed.

An id anti-join both ways finds the ids that appeared and disappeared, but not a row whose id
stayed while its embedding changed. The input's Delta history between the two versions says
when that can have happened:

* a commit that may rewrite rows in place (an ``UPDATE`` or ``MERGE`` that updated rows, an
  overwrite, a ``RESTORE``, an operation not known to be safe, a version missing from the
  history): every row counts as deleted and added (``all_rows``), still exact;
* a commit that removed rows with another that added rows before or after it (a delete then a
  re-append of the same id, a common manual upsert; or an append of a new copy then a delete
  of the old one): the ids missing right after a removal, or held twice right before one, and
  present now count as deleted and added too (``reborn``, read from the ids at those
  versions; past ``MAX_ID_READS`` such reads, or when one fails, every row instead).
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass
from functools import reduce
from typing import Any

from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F

from spark_prune.errors import first_line, is_spark_error
from spark_prune.lake import DeltaLocation

log = logging.getLogger(__name__)

ANTI_JOIN = "anti_join"
ALL_ROWS = "all_rows"  # rows may have been rewritten in place: every row recomputed
MAX_ID_READS = 10  # time-travel reads of the ids; beyond that a full recompute is cheaper

# Commits that neither add nor remove rows and change no value.
UNCHANGED_VALUES = frozenset(
    {
        "OPTIMIZE",
        "VACUUM START",
        "VACUUM END",
        "SET TBLPROPERTIES",
        "UNSET TBLPROPERTIES",
        "ADD COLUMNS",
        "CHANGE COLUMN",
        "CHANGE COLUMNS",
        "UPDATE SCHEMA",
        "UPGRADE PROTOCOL",
        "ADD CONSTRAINT",
        "DROP CONSTRAINT",
        "DROP FEATURE",
        "REORG",
        "REORG TABLE UPGRADE UNIFORM",
        "ROW TRACKING BACKFILL",
        "REMOVE COLUMN MAPPING",
        "CLUSTER BY",
        "COMPUTE STATS",
    }
)


@dataclass(frozen=True)
class History:
    """What the commits in versions ``old+1..new`` may have done to rows."""

    rewrite: str | None  # "version N: OPERATION" of the first commit that may rewrite rows
    missing_at: tuple[int, ...] = ()  # after these removals rows were added: read ids missing
    twice_at: tuple[int, ...] = ()  # before these removals rows were added: read ids held twice


@dataclass(frozen=True)
class Diff:
    method: str
    added: DataFrame
    deleted: DataFrame
    facts: Mapping[str, Any]


def diff_without_feed(
    spark: SparkSession, table: str, old: int, new: int, before: DataFrame, now: DataFrame
) -> Diff:
    """Ids added and deleted from version ``old`` (ids ``before``) to ``new`` (ids ``now``,
    one column each, the same name)."""
    history = read_history(spark, table, old, new)
    if history.rewrite is not None:
        return _every_row(now, before, history.rewrite)
    (id_col,) = now.columns
    added, deleted = now.join(before, id_col, "left_anti"), before.join(now, id_col, "left_anti")
    if not history.missing_at and not history.twice_at:
        return Diff(ANTI_JOIN, added, deleted, {})
    reborn, problem = _reborn(spark, table, history, before, now)
    if reborn is None:
        return _every_row(now, before, problem)
    facts = {"ids_read_at_versions": sorted({*history.missing_at, *history.twice_at})}
    return Diff(ANTI_JOIN, added.union(reborn), deleted.union(reborn), facts)


def _every_row(now: DataFrame, before: DataFrame, reason: str) -> Diff:
    """Every row deleted and added: exact, as slow as a full run (``reason`` in the log and the
    manifest's ``rewrite``)."""
    log.warning(
        "incremental: rows rewritten under their ids cannot be ruled out without a change data "
        "feed (%s); every row is recomputed against the previous run's centroids (enable "
        "delta.enableChangeDataFeed on the input to find only the changed rows)",
        reason,
    )
    return Diff(ALL_ROWS, now, before, {"rewrite": reason})


def _reborn(
    spark: SparkSession, table: str, history: History, before: DataFrame, now: DataFrame
) -> tuple[DataFrame | None, str]:
    """Ids present before and now that were gone or doubled in between (materialised: a
    version whose files were vacuumed fails here, not later), or None and why not."""
    reads = len(history.missing_at) + len(history.twice_at)
    if reads > MAX_ID_READS:
        return None, f"{reads} commits both add and remove rows (more than {MAX_ID_READS})"
    (id_col,) = now.columns
    location = DeltaLocation(table)
    suspects = [before.join(location.read(spark, v).select(id_col), id_col, "left_anti")
                for v in history.missing_at]  # fmt: skip
    suspects += [
        location.read(spark, v - 1).groupBy(id_col).count().filter("count > 1").select(id_col)
        for v in history.twice_at
    ]
    reborn = reduce(DataFrame.union, suspects).distinct().join(now, id_col, "left_semi")
    try:
        reborn = reborn.localCheckpoint(eager=True)  # a few ids
    except Exception as exc:
        if not is_spark_error(exc):
            raise
        return None, f"the ids at an earlier input version are unreadable ({first_line(exc)})"
    return reborn, ""


def read_history(spark: SparkSession, table: str, old: int, new: int) -> History:
    """The commits of ``table`` in versions ``old+1..new``, judged (:class:`History`)."""
    try:
        commits = (
            DeltaLocation(table)
            .history(spark)
            .filter((F.col("version") > old) & (F.col("version") <= new))
            .select("version", "operation", "operationParameters", "operationMetrics")
            .collect()
        )
    except Exception as exc:
        if not is_spark_error(exc):
            raise
        return History(f"versions {old + 1}..{new}: history unreadable ({first_line(exc)})")
    found = {int(c["version"]): c for c in commits}
    kinds: list[tuple[int, str]] = []
    for version in range(old + 1, new + 1):
        commit = found.get(version)
        if commit is None:
            return History(f"version {version}: no longer in the table's history")
        operation = str(commit["operation"])
        kind = commit_kind(
            operation, commit["operationParameters"] or {}, commit["operationMetrics"] or {}
        )
        if kind == "rewrite":
            return History(f"version {version}: {operation}")
        kinds.append((version, kind))
    adds = [v for v, kind in kinds if kind == "adds"]
    removes = [v for v, kind in kinds if kind == "removes"]
    missing_at = tuple(v for v in removes if adds and v < max(adds))
    twice_at = tuple(v for v in removes if adds and v > min(adds))
    return History(None, missing_at, twice_at)


def commit_kind(operation: str, parameters: Mapping[str, str], metrics: Mapping[str, str]) -> str:
    """What one commit may have done: ``rewrite`` (values changed under an id, also a MERGE that
    inserts and deletes: it can replace a row under its id in one commit), ``adds``,
    ``removes`` or ``none``. An unknown operation or an unrecorded metric counts as the worst
    case."""
    if operation in ("WRITE", "STREAMING UPDATE"):
        mode = parameters.get("mode" if operation == "WRITE" else "outputMode")
        return "adds" if mode == "Append" else "rewrite"
    if operation == "UPDATE":
        return "none" if _metric(metrics, "numUpdatedRows") == 0 else "rewrite"
    if operation == "MERGE":
        if _metric(metrics, "numTargetRowsUpdated") != 0:
            return "rewrite"
        adds = _metric(metrics, "numTargetRowsInserted") != 0
        removes = _metric(metrics, "numTargetRowsDeleted") != 0
        return {(True, True): "rewrite", (True, False): "adds", (False, True): "removes",
                (False, False): "none"}[(adds, removes)]  # fmt: skip
    if operation in ("DELETE", "TRUNCATE"):
        return "removes"
    return "none" if operation in UNCHANGED_VALUES else "rewrite"


def _metric(metrics: Mapping[str, str], name: str) -> int | None:
    """A commit's operation metric; None when it was not recorded (then assume the worst)."""
    try:
        return int(metrics[name])
    except (KeyError, TypeError, ValueError):
        return None
