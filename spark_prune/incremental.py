"""Incremental runs (``incremental.previous_run``): the input's new Delta version against the
version an earlier run pinned, reusing that run's stored per-row results.

The run equals a full run on the new version with both k-means frozen to the previous run's
centroids (``*.kmeans.centroids_from``), and is computed as one:

* rows added and deleted since the previous version come from the Delta change data feed when
  the table has ``delta.enableChangeDataFeed``, else from an id anti-join both ways, checked
  against the input's Delta history for rows rewritten under the same id (``input_history``);
* SemDeDup updates every cluster that gained rows or lost a partner exactly
  (``incremental_semdedup``, ``core.semdedup_update``): its new rows and the old rows whose
  stored partner was deleted are computed against every earlier row, every other old row keeps
  the better of its stored answer and the best new row before it (old rows never reorder among
  themselves). Other clusters keep their stored ``max_sim`` / ``partner``;
* DBP takes the stored ``(id, cluster_id, dist)`` of every unchanged row and assigns only the
  others; sizes, distance sums, quotas and ranks are then computed from those columns alone.
"""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass, field, is_dataclass, replace
from typing import Any

from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F

from spark_prune import contract, drift
from spark_prune.assign import assign_clusters
from spark_prune.config import ConfigError, PipelineConfig
from spark_prune.drift import quantile_upper_bound as quantile_upper_bound  # re-exported
from spark_prune.errors import UserError, first_line, is_spark_error
from spark_prune.input_history import ANTI_JOIN, diff_without_feed
from spark_prune.io import absolute_local_path
from spark_prune.lake import DeltaLocation, text_exists, write_text
from spark_prune.runs import OpenRun, manifest_path_for, open_run

log = logging.getLogger(__name__)

KEY = "incremental.previous_run"
CHANGE_DATA_FEED = "change_data_feed"
UNCHANGED = "unchanged"  # the input is still at the previous run's version: nothing to find
SD_COLUMNS = (
    contract.SEMDEDUP_CLUSTER_ID,
    contract.SEMDEDUP_DIST,
    contract.SEMDEDUP_MAX_SIM,
    contract.SEMDEDUP_PARTNER,
)


def previous_from_output(
    spark: SparkSession, cfg: PipelineConfig, manifest_path: str
) -> PipelineConfig:
    """``incremental.from_output``: the run already at the output location (its manifest at
    ``manifest_path``) becomes ``previous_run``; with none there yet the run is a full run.
    The config returned (and recorded in the manifest) names the previous run it found."""
    if not cfg.incremental.from_output:
        return cfg
    found = text_exists(spark, manifest_path)
    if found:
        log.info("incremental.from_output: an incremental run from the run at %s", manifest_path)
    else:
        log.info("incremental.from_output: no finished run at %s yet: a full run", manifest_path)
    previous = manifest_path if found else None
    resolved = replace(cfg.incremental, previous_run=previous, from_output=False)
    return replace(cfg, incremental=resolved)


def resolve(cfg: PipelineConfig) -> PipelineConfig:
    """``cfg`` with both k-means frozen to ``incremental.previous_run`` (what the run equals)."""
    previous = cfg.incremental.previous_run
    if not previous:
        return cfg
    previous = absolute_local_path(previous)
    if cfg.semdedup.enabled and cfg.semdedup.border_margin > 0:
        raise ConfigError(
            "semdedup.border_margin: incremental runs recompute only the clusters that changed, "
            "which border_margin's cross-cluster guests do not allow; set it to 0 or run a full "
            "run (no incremental.previous_run)"
        )
    for section in ("dbp", "semdedup"):
        given = getattr(cfg, section).kmeans.centroids_from
        if given and manifest_path_for(absolute_local_path(given)) != manifest_path_for(previous):
            raise ConfigError(
                f"{section}.kmeans.centroids_from: an incremental run uses the "
                f"previous run's centroids ({previous!r}); leave it unset"
            )
    frozen = drift.with_centroids_from(cfg, previous)
    return replace(frozen, incremental=replace(cfg.incremental, previous_run=previous))


def writes_over_previous(cfg: PipelineConfig, manifest_path: str) -> bool:
    """The run's output is the previous run's own location (the weekly job's usual setup)."""
    previous = cfg.incremental.previous_run
    return bool(previous) and manifest_path_for(str(previous)) == manifest_path


HISTORY_DIR = "_previous_runs"


def keep_replaced_manifest(spark: SparkSession, manifest: str) -> str | None:
    """Before a run replaces the finished run whose manifest is at ``manifest`` (an
    incremental run over its previous run, a refit or any ``output.mode=overwrite``): a copy
    of that manifest beside, under ``_previous_runs/<run id>.json``, so ``open_run`` of that
    file still reads the replaced run (its tables at the versions it named, by time travel).
    Returns the copy's path; None when no finished run is there."""
    if not text_exists(spark, manifest):
        return None
    try:
        replaced = open_run(spark, manifest)
    except UserError as exc:  # not a manifest: nothing readable to keep
        log.warning("%s: not kept under %s", exc, HISTORY_DIR)
        return None
    folder = manifest.rsplit("/", 1)[0]
    name = re.sub(r"[^A-Za-z0-9._-]", "_", replaced.run_id)  # HDFS refuses ':' in a name
    path = f"{folder}/{HISTORY_DIR}/{name}.json"
    text = json.dumps(replaced.manifest, indent=2, sort_keys=True, default=str)
    write_text(spark, path, text + "\n")
    return path


@dataclass
class IncrementalRun:
    """The previous run, the ids added and deleted since its input version, and the stored
    per-row results the stages reuse."""

    spark: SparkSession
    cfg: PipelineConfig
    previous: OpenRun
    added: DataFrame  # ids (new rows, and rows rewritten under the same id)
    deleted: DataFrame  # ids (gone rows, and the old state of rewritten rows)
    keep: Callable[[DataFrame], DataFrame]  # persist for the run (released at its end)
    facts: dict[str, Any] = field(default_factory=dict)

    @property
    def id_col(self) -> str:
        return self.cfg.input.id_column

    def _stored(self, columns: tuple[str, ...]) -> DataFrame:
        """Previous decisions rows with ``columns[0]`` set, minus deleted ids."""
        rows = self.previous.table(contract.DECISIONS).filter(F.col(columns[0]).isNotNull())
        return rows.select(self.id_col, *columns).join(self.deleted, self.id_col, "left_anti")

    # ------------------------------------------------------------ SemDeDup
    def semdedup(self, rows: DataFrame, centroids: Any) -> tuple[DataFrame, dict[str, Any]]:
        """SemDeDup's result for ``rows``: changed clusters updated, the others reused."""
        from spark_prune import incremental_semdedup as iu
        from spark_prune import semdedup as sd

        cfg, id_col, emb, dim = (
            self.cfg.semdedup,
            self.id_col,
            self.cfg.input.embedding_column,
            (int(centroids.vectors.shape[1])),
        )
        sd.check_args(cfg, dim, 1)
        self._check_same(("semdedup", "order"), ("semdedup", "keep_by"))
        if cfg.order == "random":
            self._check_same(("semdedup", "seed"))
        # no join with the rows' ids: each cluster's task matches its rows and stored entries
        # by id, and an entry without a row there is ignored
        updated = self.keep(
            iu.update_clusters(
                sd.assign(rows, centroids, cfg, id_col, emb, dim),
                iu.stored_entries(self._stored(SD_COLUMNS), id_col),
                id_col,
                dim,
                cfg,
            )
        )
        work = iu.work_done(updated)
        result = updated.drop(iu.IN_FULL, iu.TOUCHED)  # read from the one cached copy
        stats = sd.exact_stats(result, cfg.eps)
        info = sd.describe(cfg, centroids, [], stats)
        info["incremental"] = work
        log.info(
            "SemDeDup (incremental): %d clusters updated (%d rows: %d against every earlier "
            "row, %d against the new rows only), %d rows reused",
            work["clusters_recomputed"],
            work["rows_recomputed"],
            work["rows_computed_in_full"],
            work["rows_computed_against_new_rows"],
            work["rows_reused"],
        )
        return result, info

    def _check_same(self, *keys: tuple[str, str]) -> None:
        """Keys whose change invalidates the stored SemDeDup results."""
        before = self.previous.manifest.get("config") or {}
        if not (before.get("semdedup") or {}).get("enabled"):
            return  # nothing stored: every cluster is computed
        for section, name in keys:
            old = (before.get(section) or {}).get(name)
            new = getattr(getattr(self.cfg, section), name)
            if is_dataclass(new) and not isinstance(new, type):
                new = asdict(new)  # the manifest holds a section's nested options as a dict
            if old != new and (old is not None or name == "keep_by"):
                raise ConfigError(
                    f"{section}.{name}: {new!r} differs from the previous run's "
                    f"{old!r}; its stored results do not apply: run a full run "
                    f"(no incremental.previous_run)"
                )

    # ------------------------------------------------------------ DBP
    def dbp_assigned(
        self, rows: DataFrame, centroids: Any, valid_rows: DataFrame | None = None
    ) -> DataFrame:
        """``id, cluster_id, dist`` for ``rows``: stored where known, assigned otherwise.

        The rows to assign are found by id alone and counted first, so their real size picks
        the join that selects them: a few (the usual weekly change) go to every task as a
        broadcast and no embedding moves; many are a shuffle join, as any large join. They
        are taken from ``valid_rows`` (every valid row, a plain filter of the input, of which
        ``rows`` is a subset by id) when given: selecting them from ``rows``, SemDeDup's
        survivors, would first move every embedding through that stage's join."""
        id_col = self.id_col
        stored = self._stored((contract.CLUSTER_ID, contract.DIST)).join(
            rows.select(id_col), id_col, "left_semi"
        )
        fresh_ids = self.keep(rows.select(id_col).join(stored, id_col, "left_anti"))
        self.facts["dbp_rows_assigned"] = fresh_ids.count()
        source = rows if valid_rows is None else valid_rows
        fresh = assign_clusters(
            source.join(fresh_ids, id_col, "left_semi"),
            centroids.vectors,
            id_col,
            self.cfg.input.embedding_column,
            int(centroids.vectors.shape[1]),
            cluster_ids=centroids.ids,
        )
        return stored.unionByName(fresh)

    def drift(self, assigned: DataFrame) -> dict[str, Any]:
        """How far the added rows sit from the frozen DBP centroids (``drift.measure``); logs
        a warning when a full refit is due."""
        added = assigned.join(self.added, self.id_col, "left_semi")
        measured = self.facts.get("drift_before_stages") or {}  # refit: auto measured it
        facts = drift.measure(
            self.previous,
            added,
            self.cfg.incremental.refit_above,
            p95=measured.get("previous_dist_p95"),
        )
        drift.warn_if_due(facts)
        return facts


def prepare(
    spark: SparkSession,
    cfg: PipelineConfig,
    frame: DataFrame,
    version: int | None,
    keep: Callable[[DataFrame], DataFrame],
) -> IncrementalRun:
    """Open the previous run and find the ids added and deleted since the version it read."""
    previous = _open(spark, str(cfg.incremental.previous_run))
    old = _check_input(cfg, previous, version)
    assert version is not None
    id_col = cfg.input.id_column
    before = previous.table(contract.DECISIONS).select(id_col)
    now = frame.select(id_col)
    method: str = ANTI_JOIN
    found: Mapping[str, Any] = {}
    if version == old:
        method = UNCHANGED
        added = deleted = now.limit(0)
    else:
        touched = _change_feed(spark, cfg, old, version)
        if touched is not None:
            method = CHANGE_DATA_FEED
            added = now.join(touched, id_col, "left_semi")
            deleted = before.join(touched, id_col, "left_semi")
        else:
            diff = diff_without_feed(spark, cfg.input.path, old, version, before, now)
            method, added, deleted, found = diff.method, diff.added, diff.deleted, diff.facts
    added, deleted = keep(added), keep(deleted)
    facts = {
        "previous_run": previous.location,
        "previous_run_id": previous.run_id,
        "previous_input_version": old,
        "input_version": version,
        "method": method,
        **found,
        "added": added.count(),
        "deleted": deleted.count(),
    }
    how = f"found by {method.replace('_', ' ')}"
    if method == UNCHANGED:
        how = "the input is unchanged"
    log.info(
        "incremental run from %s: input version %d -> %d, %d rows added, %d deleted (%s)",
        previous.location,
        old,
        version,
        facts["added"],
        facts["deleted"],
        how,
    )
    return IncrementalRun(spark, cfg, previous, added, deleted, keep, facts)


def _open(spark: SparkSession, location: str) -> OpenRun:
    try:
        return open_run(spark, location, named_by=f"{KEY}: run")
    except UserError as exc:
        raise ConfigError(str(exc)) from None


def _check_input(cfg: PipelineConfig, previous: OpenRun, version: int | None) -> int:
    """The input version the previous run read; the same table, and not a newer version."""
    source = previous.manifest.get("input") or {}
    old = source.get("delta_version")
    if version is None or old is None:
        raise ConfigError(
            f"{KEY}: incremental runs need a Delta input with versions (this "
            f"input's format is {cfg.input.format})"
        )
    same = _input_ref(source) == cfg.input.path
    if not same or source.get("id_column") != cfg.input.id_column:
        raise ConfigError(
            f"{KEY}: run {previous.location!r} read {source.get('path')!r} (id "
            f"{source.get('id_column')!r}), not input.path {cfg.input.path!r} "
            f"(id {cfg.input.id_column!r})"
        )
    if source.get("embedding_column") != cfg.input.embedding_column:
        raise ConfigError(
            f"input.embedding_column: {cfg.input.embedding_column!r} but run "
            f"{previous.location!r} used {source.get('embedding_column')!r}"
        )
    if int(old) > version:
        raise ConfigError(
            f"{KEY}: run {previous.location!r} read input version {old}, newer "
            f"than the version {version} read now"
        )
    return int(old)


def _input_ref(source: dict[str, Any]) -> str:
    """The input a run's manifest names, as ``with_absolute_paths`` leaves it (a catalog
    table's name as it is, a relative local path made absolute)."""
    path = str(source.get("path"))
    return path if source.get("format") == "table" else absolute_local_path(path)


def _change_feed(spark: SparkSession, cfg: PipelineConfig, old: int, new: int) -> DataFrame | None:
    """Distinct ids changed in versions old+1..new by the change data feed; None when the table
    does not have it enabled (or not over the whole range: then the log says so)."""
    table = DeltaLocation(cfg.input.path)
    try:
        properties = table.delta_table(spark).detail().first()["properties"] or {}
    except Exception as exc:
        if not is_spark_error(exc):
            raise
        return None
    if str(properties.get("delta.enableChangeDataFeed", "")).lower() != "true":
        return None
    reader = (
        spark.read.format("delta")
        .option("readChangeFeed", "true")
        .option("startingVersion", old + 1)
        .option("endingVersion", new)
    )
    changes = reader.table(table.ref) if table.is_catalog else reader.load(table.ref)
    try:
        ids = changes.select(cfg.input.id_column).distinct()
        changes.limit(1).count()  # fails here when the feed does not cover the range
    except Exception as exc:
        if not is_spark_error(exc):
            raise
        log.warning(
            "incremental: change data feed unreadable for versions %d..%d (%s); "
            "using an id anti-join instead",
            old + 1,
            new,
            first_line(exc),
        )
        return None
    return ids
