"""The whole run: read, then every enabled stage of the registry in order, then write.

This module only wires stages together: each stage's internals live in ``spark_prune.stages``;
the decisions table is assembled from what they declared (``decisions.py``) and the manifest
from their typed reports (``manifest.py``).
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any

from pyspark.sql import DataFrame, SparkSession

from spark_prune import contract, decisions, drift, incremental, manifest, tracking
from spark_prune.checkpoints import Checkpoints
from spark_prune.config import PipelineConfig
from spark_prune.input_files import files_fingerprint
from spark_prune.io import InputRead, OutputLocation, open_input, with_absolute_paths
from spark_prune.lake import remove_file, removed_if_left_empty
from spark_prune.lease import Lease, acquire, lease_dir
from spark_prune.preflight import check_locations
from spark_prune.resume import run_keys, run_stage
from spark_prune.stages import REGISTRY, RunContext, Stage, StageOutput, StageReport, StoredSemDedup

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class RunResult:
    run_id: str
    output: OutputLocation
    manifest: dict[str, Any]

    @property
    def counts(self) -> dict[str, int]:
        return dict(self.manifest["counts"])


def run(
    spark: SparkSession,
    cfg: PipelineConfig,
    semdedup_from: StoredSemDedup | None = None,
    registry: Sequence[Stage] = REGISTRY,
    fresh: bool = False,
) -> RunResult:
    """Run the enabled stages and write ``pruned``, ``decisions``, ``clusters``, manifest.

    ``semdedup_from``: stored ``id, semdedup_*`` columns of an earlier run over the same input
    version (``rethreshold.stored_semdedup``); SemDeDup then re-applies ``semdedup.eps`` to
    them instead of recomputing similarities (``spark-prune rethreshold``).

    One run at a time per output (``lease.py``); finished stages are checkpointed under
    ``<output>/_stages`` and a rerun resumes from them (``resume.py``) unless ``fresh``.
    """
    if cfg.embed.enabled:
        cfg.embed.check_ready()
    cfg = incremental.resolve(with_absolute_paths(cfg))
    out = OutputLocation(cfg.output)
    ctx = RunContext(spark, cfg, _new_run_id(cfg), stored_semdedup=semdedup_from)
    started = _now()
    check_locations(spark, cfg)
    where = lease_dir(cfg.output.path, cfg.output.manifest_path)
    with removed_if_left_empty(where):
        lease = acquire(spark, where, ctx.run_id)
        try:
            # under the lease: the run found there is the one this run follows
            found = incremental.previous_from_output(spark, cfg, out.manifest_path)
            ctx.cfg = cfg = incremental.resolve(found)
            if not incremental.writes_over_previous(cfg, out.manifest_path):
                out.check_writable(spark)
            return _run_locked(ctx, registry, out, started, fresh, lease)
        finally:
            ctx.release()
            lease.release()


def _run_locked(
    ctx: RunContext,
    registry: Sequence[Stage],
    out: OutputLocation,
    started: str,
    fresh: bool,
    lease: Lease,
) -> RunResult:
    spark, cfg = ctx.spark, ctx.cfg
    enabled = [stage for stage in registry if stage.enabled(cfg)]
    ctx.needed_columns = list(
        dict.fromkeys(c for stage in enabled for c in stage.input_columns(cfg))
    )
    with ctx.timed("read"):
        source = open_input(spark, cfg.input)
    version = source.version
    ctx.input_version = version
    if cfg.incremental.previous_run:
        with ctx.timed("incremental.diff"):
            ctx.previous = incremental.prepare(spark, cfg, source.frame, version, ctx.persist)
        if cfg.incremental.refit == "auto":
            with ctx.timed("incremental.drift"):
                cfg = _refit_if_drifted(ctx, source.frame)
    store = Checkpoints(spark, cfg.output.path, ctx.run_id, fresh) if cfg.output.path else None
    unpinned = version is None and store is not None  # what keys its checkpoints
    files = files_fingerprint(cfg.input, source.frame) if unpinned else None
    keys = run_keys(cfg, enabled, version, ctx.stored_semdedup is not None, files)
    outputs = _run_stages(ctx, enabled, source.frame, store, keys, lease)
    full_rows = source.frame
    for _, output in outputs:
        full_rows = output.full_rows if output.full_rows is not None else full_rows
    lease.ensure_held()
    result = _publish(ctx, registry, outputs, full_rows, out, started, source, files, lease)
    if store is not None and not cfg.output.keep_checkpoints:
        store.clean()
    tracking.log_run(cfg, result.manifest)  # MLflow, only when tracking is on
    return result


def _refit_if_drifted(ctx: RunContext, frame: DataFrame) -> PipelineConfig:
    """``incremental.refit: auto``: the added rows' drift, measured before any stage; when a
    refit is due the run becomes a full run (k-means refitted, nothing reused). Returns the
    run's config."""
    previous = ctx.previous
    assert previous is not None
    facts = drift.before_stages(ctx.spark, ctx.cfg, previous.previous, previous.added, frame)
    previous.facts["refit"] = bool(facts["refit_due"])
    if not facts["refit_due"]:
        previous.facts["drift_before_stages"] = facts  # the DBP stage adds its own ``drift``
        return ctx.cfg
    drift.log_refit(facts)
    previous.facts["drift"] = facts
    ctx.refit_from, ctx.previous = previous, None
    ctx.cfg = drift.full_run_config(ctx.cfg)
    return ctx.cfg


def _new_run_id(cfg: PipelineConfig) -> str:
    stamp = datetime.now(timezone.utc).strftime("%Y%m%dT%H%M%SZ-")
    return cfg.run_id or stamp + uuid.uuid4().hex[:8]


def _now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


def _run_stages(
    ctx: RunContext,
    stages: Sequence[Stage],
    rows: DataFrame,
    store: Checkpoints | None,
    keys: Mapping[str, str],
    lease: Lease,
) -> list[tuple[Stage, StageOutput]]:
    outputs: list[tuple[Stage, StageOutput]] = []
    for stage in stages:
        if outputs and _nothing_left(outputs[-1][1]):
            _say_nothing_left(ctx.run_id, outputs[-1][1].report)
            break
        lease.ensure_held()  # a stalled run that lost its lease writes no checkpoint either
        with ctx.timed(stage.name):
            output = run_stage(ctx, stage, rows, store, keys[stage.name])
        outputs.append((stage, output))
        rows = output.survivors
    return outputs


def _nothing_left(output: StageOutput) -> bool:
    """No row survived the stage (its report's counts say so: every row invalid after
    validation, or a CLIP threshold above every score): later stages have nothing to do."""
    report = output.report
    if report.rows_in is None or (report.removed is None and report.invalid is None):
        return False
    return report.rows_in - (report.removed or 0) - (report.invalid or 0) <= 0


def _say_nothing_left(run_id: str, report: StageReport) -> None:
    if report.stage == "validate":
        log.warning("[%s] no valid embedding in the input: every row is invalid, no later "
                    "stage runs", run_id)  # fmt: skip
        return
    log.warning("[%s] %s left no row (%d in, %d removed, %d invalid): no later stage runs and "
                "nothing is kept; check its settings", run_id, report.stage, report.rows_in or 0,
                report.removed or 0, report.invalid or 0)  # fmt: skip


def _publish(
    ctx: RunContext,
    registry: Sequence[Stage],
    outputs: Sequence[tuple[Stage, StageOutput]],
    full_rows: DataFrame,
    out: OutputLocation,
    started: str,
    source: InputRead,
    files: str | None,
    lease: Lease,
) -> RunResult:
    """Write decisions, the stages' tables and pruned, then the manifest (the commit point)."""
    spark, id_col = ctx.spark, ctx.id_col
    previous = ctx.previous or ctx.refit_from  # the run this one follows (or refitted instead)
    meta = {"run_id": ctx.run_id, "tool": "spark_prune"}
    versions: dict[str, int] = {}
    with ctx.timed("write.decisions"):
        table = decisions.assemble(registry, outputs, id_col)
        versions[contract.DECISIONS] = out.write(
            table, contract.DECISIONS, {**meta, "table": contract.DECISIONS}
        )
        written = out.read(spark, contract.DECISIONS)
        counts = decisions.count_reasons(written)
        for _, output in outputs:
            counts.update(output.report.counts())
    for name, frame in _stage_tables(ctx, registry, outputs).items():
        with ctx.timed(f"write.{name}"):
            versions[name] = out.write(frame, name, {**meta, "table": name})
    with ctx.timed("write.pruned"):
        kept_ids = written.filter(contract.KEPT).select(id_col)
        pruned = full_rows.join(kept_ids, id_col, "left_semi")
        versions[contract.PRUNED] = out.write(
            pruned, contract.PRUNED, {**meta, "table": contract.PRUNED, "counts": counts}
        )
    facts = manifest.RunFacts(
        run_id=ctx.run_id,
        started=started,
        input_version=source.version,
        input_shards=source.shards,
        input_files=files,
        incremental=previous.facts if previous is not None else None,
        counts=counts,
        timings=ctx.timings,
        outputs={
            name: {"location": out.table_ref(name), "delta_version": v}
            for name, v in versions.items()
        },
    )
    doc = manifest.build(spark, ctx.cfg, facts, [output.report for _, output in outputs])
    kept = incremental.keep_replaced_manifest(spark, out.manifest_path)
    if kept is not None:  # the replaced run stays readable, by time travel
        doc["replaced_manifest"] = kept
        if previous is not None and incremental.writes_over_previous(ctx.cfg, out.manifest_path):
            doc["incremental"]["previous_manifest"] = kept
    if ctx.cfg.output.path:  # a report of the previous run must not sit beside this one
        remove_file(spark, f"{ctx.cfg.output.path.rstrip('/')}/{contract.REPORT_FILE}")
    lease.ensure_held()
    manifest.write(spark, out.manifest_path, doc)  # the commit point: written last, atomically
    log.info("[%s] counts: %s", ctx.run_id, counts)
    return RunResult(ctx.run_id, out, doc)


def _stage_tables(
    ctx: RunContext, registry: Sequence[Stage], outputs: Sequence[tuple[Stage, StageOutput]]
) -> Mapping[str, DataFrame]:
    """Every table a registered stage owns: its output, or empty with its schema."""
    produced = {name: df for _, output in outputs for name, df in output.tables.items()}
    tables: dict[str, DataFrame] = {}
    for stage in registry:
        for name, schema in stage.tables.items():
            if name in produced:
                tables[name] = produced[name]
            else:
                tables[name] = ctx.spark.createDataFrame([], schema)
    return tables
