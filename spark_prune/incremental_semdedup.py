"""An incremental run's SemDeDup on the clusters that gained or lost rows: the exact update of
``core.semdedup_update`` from the stored ``max_sim`` / ``partner``, one ``applyInArrow`` task
per touched cluster.

New rows and old rows whose stored partner is gone are computed against every earlier row of
their cluster; every other old row only against the new rows before it. The work per cluster is
|new + partner gone| x |cluster| + |old| x |new|, so it is spread as one task per cluster; the
huge-cluster split of a full run (``semdedup.split_rows``, ``semdedup_split``) is not used here.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
from pyspark import StorageLevel
from pyspark.sql import DataFrame
from pyspark.sql import functions as F
from pyspark.sql import types as T

from spark_prune import semdedup as sd
from spark_prune.config import SemDedupConfig
from spark_prune.core.semdedup_update import (
    NO_PARTNER,
    PARTNER_GONE,
    computed_in_full,
    update_cluster,
)
from spark_prune.core.vectors import binary_to_matrix

IS_NEW = "_semdedup_is_new"
STORED_MAX_SIM = "_semdedup_stored_max_sim"
STORED_PARTNER = "_semdedup_stored_partner"
IN_FULL = "_semdedup_in_full"  # the row was computed against every earlier row
STORED = (IS_NEW, STORED_MAX_SIM, STORED_PARTNER)


def with_stored(old: DataFrame, id_col: str) -> DataFrame:
    """Stored rows ``id, semdedup_max_sim, semdedup_partner`` renamed as the update's inputs."""
    return old.select(
        id_col,
        F.lit(False).alias(IS_NEW),
        F.col(sd.MAX_SIM_COL).alias(STORED_MAX_SIM),
        F.col(sd.PARTNER_COL).alias(STORED_PARTNER),
    )


def as_new(assigned: DataFrame, id_col: str) -> DataFrame:
    """Assigned new rows (``sd.assign``) with the update's inputs: new, nothing stored."""
    id_type = assigned.schema[id_col].dataType
    return (
        assigned.withColumn(IS_NEW, F.lit(True))
        .withColumn(STORED_MAX_SIM, F.lit(None).cast(T.DoubleType()))
        .withColumn(STORED_PARTNER, F.lit(None).cast(id_type))
    )


def update_clusters(
    assigned: DataFrame, id_col: str, dim: int, cfg: SemDedupConfig
) -> tuple[DataFrame, dict[str, int]]:
    """``assigned``: every row of the touched clusters (``sd.assign`` output with ``IS_NEW``,
    ``STORED_MAX_SIM``, ``STORED_PARTNER``) -> the persisted ``id, semdedup_*`` result and
    how many rows were computed against all earlier rows vs against the new rows only."""
    schema = sd.output_schema(assigned.schema[id_col])
    flagged = T.StructType([*schema.fields, T.StructField(IN_FULL, T.BooleanType(), False)])
    process = update_function(id_col, dim, cfg)
    result = assigned.groupBy(sd.CLUSTER_COL).applyInArrow(process, flagged)
    result = result.persist(StorageLevel.MEMORY_AND_DISK)
    row = result.agg(
        F.count(F.lit(1)).alias("rows"), F.sum(F.col(IN_FULL).cast("long")).alias("full")
    ).first()
    rows = int(row["rows"]) if row else 0
    full = int(row["full"] or 0) if row else 0
    work = {"rows_computed_in_full": full, "rows_computed_against_new_rows": rows - full}
    return result, work


def update_function(id_col: str, dim: int, cfg: SemDedupConfig) -> Callable[[pa.Table], pa.Table]:
    """One touched cluster (an Arrow table) -> its rows' SemDeDup columns and ``IN_FULL``."""

    def process(table: pa.Table) -> pa.Table:
        id_column = table.column(id_col).combine_chunks()
        ids = id_column.to_numpy(zero_copy_only=False)
        dist = table.column(sd.DIST_COL).to_numpy()
        key = table.column(sd.ORDER_KEY).to_numpy() if sd.ORDER_KEY in table.column_names else None
        is_new = np.asarray(table.column(IS_NEW).to_numpy(zero_copy_only=False), dtype=bool)
        stored_sim = table.column(STORED_MAX_SIM).to_numpy(zero_copy_only=False)  # null: NaN
        partner_in = partner_rows(id_column, table.column(STORED_PARTNER), is_new)
        max_sim, partner = update_cluster(
            ids,
            dist,
            binary_to_matrix(table.column(sd.EMB_BYTES), dim),
            cfg.order,
            cfg.block_size,
            is_new,
            np.asarray(stored_sim, dtype=np.float64),
            partner_in,
            key,
            sd.keep_values(table),
            cfg.keep_by is None or cfg.keep_by.order == "desc",
        )
        columns = sd.result_columns(table, id_column, dist, max_sim, partner)
        columns.append(pa.array(computed_in_full(is_new, partner_in), pa.bool_()))
        names = [id_col, sd.CLUSTER_COL, sd.DIST_COL, sd.MAX_SIM_COL, sd.PARTNER_COL, IN_FULL]
        return pa.Table.from_arrays(columns, names=names)

    return process


def partner_rows(id_column: pa.Array, partners: Any, is_new: np.ndarray) -> np.ndarray:
    """Stored partner ids -> row indices among the cluster's OLD rows (a new row under a
    partner's id is a rewritten row, not the partner); ``NO_PARTNER`` for null,
    ``PARTNER_GONE`` where the id is no longer among the old rows."""
    old = np.flatnonzero(~is_new)
    partners = partners.combine_chunks() if isinstance(partners, pa.ChunkedArray) else partners
    found = pc.index_in(partners, value_set=id_column.take(pa.array(old, pa.int64())))
    where = np.asarray(found.to_numpy(zero_copy_only=False), dtype=np.float64)  # null: NaN
    rows = np.full(len(is_new), PARTNER_GONE, dtype=np.int64)
    hit = ~np.isnan(where)
    rows[hit] = old[where[hit].astype(np.int64)]
    rows[np.asarray(partners.is_null().to_numpy(zero_copy_only=False), dtype=bool)] = NO_PARTNER
    return rows
