"""The ``decisions`` table, assembled from the columns the stages declared.

Every stage returns one decision row per row it received: the id, its declared columns, whether
it removed the row and why the row was unusable (``stages.base.REMOVED`` / ``INVALID``). The
first stage that records decisions sees every input row, so its frame is the base the others
are left-joined to. A row's reason is that of the first stage, in registry order, that found it
invalid (``invalid``) or removed it (the stage's reason); no reason means kept.
"""

from __future__ import annotations

from collections.abc import Sequence

from pyspark.sql import Column, DataFrame
from pyspark.sql import functions as F
from pyspark.sql import types as T

from spark_prune import contract
from spark_prune.stages.base import INVALID, REMOVED, Stage, StageOutput, StageReport


def decision_fields(registry: Sequence[Stage], id_type: T.DataType) -> list[T.StructField]:
    """Every stage's declared columns (enabled or not), in the contract's order first."""
    fields = {c.name: c.field(id_type) for stage in registry for c in stage.columns}
    known = [name for name in contract.DECISION_STAGE_COLUMNS if name in fields]
    extra = [name for name in fields if name not in contract.DECISION_STAGE_COLUMNS]
    return [fields[name] for name in known + extra]


def assemble(
    registry: Sequence[Stage], outputs: Sequence[tuple[Stage, StageOutput]], id_col: str
) -> DataFrame:
    """One row per input row: id, the stages' columns, ``kept``, ``reason``, ``detail``."""
    recorded = [(stage, out.decisions) for stage, out in outputs if out.decisions is not None]
    if not recorded:
        raise ValueError("no stage recorded decisions (the validate stage always does)")
    reports = {stage.name: out.report for stage, out in outputs}
    rows: DataFrame | None = None
    before: list[Stage] = []
    for stage, frame in recorded:
        own = frame.select(
            id_col,
            *[c.name for c in stage.columns],
            F.col(REMOVED).alias(_removed(stage)),
            F.col(INVALID).alias(_invalid(stage)),
        )
        if rows is None:
            rows = own
        elif _only_passed_rows_on(before, reports) and _saw_every_row(stage, before, reports):
            rows = own.select("*", *_nothing_recorded(before))  # no join: the same ids
        else:
            rows = rows.join(own, id_col, "left")
        before.append(stage)
    assert rows is not None
    id_type = rows.schema[id_col].dataType
    columns = [
        F.col(f.name) if f.name in rows.columns else F.lit(None).cast(f.dataType).alias(f.name)
        for f in decision_fields(registry, id_type)
    ]
    stages = [stage for stage, _ in recorded]
    reason = _reason(stages)
    detail = F.coalesce(*[F.col(_invalid(s)) for s in stages], F.lit(None).cast("string"))
    return rows.select(
        id_col,
        *columns,
        reason.isNull().alias(contract.KEPT),
        reason.alias(contract.REASON),
        detail.alias(contract.DETAIL),
    )


def _only_passed_rows_on(stages: Sequence[Stage], reports: dict[str, StageReport]) -> bool:
    """The stages declared no column and (their reports say) found no row invalid and removed
    none: the usual validation of a clean input, whose decisions add nothing to a row."""
    return all(
        not stage.columns
        and reports[stage.name].invalid == 0
        and reports[stage.name].removed in (0, None)
        for stage in stages
    )


def _saw_every_row(stage: Stage, before: Sequence[Stage], reports: dict[str, StageReport]) -> bool:
    """``stage`` received as many rows as the first stage (every input row)."""
    first = reports[before[0].name].rows_in
    return first is not None and reports[stage.name].rows_in == first


def _nothing_recorded(stages: Sequence[Stage]) -> list[Column]:
    """The columns the stages' decisions would have joined in: all null."""
    columns = []
    for stage in stages:
        columns.append(F.lit(None).cast("boolean").alias(_removed(stage)))
        columns.append(F.lit(None).cast("string").alias(_invalid(stage)))
    return columns


def _reason(stages: Sequence[Stage]) -> Column:
    chain: Column | None = None
    for stage in stages:
        for condition, value in (
            (F.col(_invalid(stage)).isNotNull(), contract.INVALID),
            (F.coalesce(F.col(_removed(stage)), F.lit(False)), stage.reason),
        ):
            if value is None:
                continue
            chain = (
                F.when(condition, F.lit(value))
                if chain is None
                else chain.when(condition, F.lit(value))
            )
    return chain if chain is not None else F.lit(None).cast("string")


def _removed(stage: Stage) -> str:
    return f"_{stage.name}_removed"


def _invalid(stage: Stage) -> str:
    return f"_{stage.name}_invalid"


def count_reasons(decisions: DataFrame) -> dict[str, int]:
    """input, kept and removed per reason, from the written decisions table (they reconcile)."""
    rows = decisions.groupBy(contract.REASON).count().collect()
    by_reason = {r[contract.REASON]: int(r["count"]) for r in rows}
    counts = {"input": sum(by_reason.values()), "kept": by_reason.pop(None, 0)}
    for reason in contract.REASONS:
        counts[reason] = by_reason.pop(reason, 0)
    for reason in sorted(by_reason):  # reasons of stages beyond the contract's
        counts[reason] = by_reason[reason]
    return counts
