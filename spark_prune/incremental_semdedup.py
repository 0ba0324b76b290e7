"""An incremental run's SemDeDup: the exact update of ``core.semdedup_update`` from the stored
``max_sim`` / ``partner``, one ``applyInArrow`` task per cluster.

New rows and old rows whose stored partner is gone are computed against every earlier row of
their cluster; every other old row only against the new rows before it. The work per cluster is
|new + partner gone| x |cluster| + |old| x |new|; a cluster with neither keeps its stored
results. Every row now (assigned where it is read) and the stored results of the old rows (ids
and two numbers) meet in one shuffle by cluster, so the embeddings move once, as in a full run.
The huge-cluster split of a full run (``semdedup.split_rows``) is not used here.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
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

STORED_ENTRY = "_semdedup_stored_entry"  # marks a stored result's row in the union
STORED_MAX_SIM = "_semdedup_stored_max_sim"
STORED_PARTNER = "_semdedup_stored_partner"
IN_FULL = "_semdedup_in_full"  # the row was computed against every earlier row
TOUCHED = "_semdedup_touched"  # the row's cluster gained rows or lost a partner


def stored_entries(stored: DataFrame, id_col: str) -> DataFrame:
    """Stored rows ``id, semdedup_cluster_id, semdedup_max_sim, semdedup_partner`` as the
    update's id-only entries: no embedding, so they cost nothing to shuffle."""
    return stored.select(
        id_col,
        F.col(sd.CLUSTER_COL),
        F.lit(True).alias(STORED_ENTRY),
        F.col(sd.MAX_SIM_COL).alias(STORED_MAX_SIM),
        F.col(sd.PARTNER_COL).alias(STORED_PARTNER),
    )


def update_clusters(
    assigned: DataFrame, stored: DataFrame, id_col: str, dim: int, cfg: SemDedupConfig
) -> DataFrame:
    """``assigned``: every row now (``sd.assign`` output); ``stored``: the previous results of
    the old rows among them (``stored_entries``). One shuffle by cluster brings both together,
    so the embeddings move once, as in a full run -> the ``id, semdedup_*`` result with
    ``IN_FULL`` and ``TOUCHED`` (lazy: persist it, then count the work with ``work_done``)."""
    schema = sd.output_schema(assigned.schema[id_col])
    flags = [T.StructField(name, T.BooleanType(), False) for name in (IN_FULL, TOUCHED)]
    both = assigned.unionByName(stored, allowMissingColumns=True)
    return both.groupBy(sd.CLUSTER_COL).applyInArrow(
        update_function(id_col, dim, cfg), T.StructType([*schema.fields, *flags])
    )


def work_done(result: DataFrame) -> dict[str, int]:
    """Counts of the update's work (one aggregation, a single row to the driver)."""
    touched = F.col(TOUCHED)
    row = result.agg(
        F.count(F.lit(1)).alias("rows"),
        F.sum(F.col(IN_FULL).cast("long")).alias("full"),
        F.sum(touched.cast("long")).alias("touched_rows"),
        F.countDistinct(F.when(touched, F.col(sd.CLUSTER_COL))).alias("clusters"),
    ).first()
    rows, full, touched_rows, clusters = (int(row[i] or 0) if row else 0 for i in range(4))
    return {
        "clusters_recomputed": clusters,
        "rows_recomputed": touched_rows,
        "rows_reused": rows - touched_rows,
        "rows_computed_in_full": full,
        "rows_computed_against_new_rows": touched_rows - full,
    }


def update_function(id_col: str, dim: int, cfg: SemDedupConfig) -> Callable[[pa.Table], pa.Table]:
    """One cluster's rows and stored entries (an Arrow table) -> its rows' SemDeDup columns,
    ``IN_FULL`` and ``TOUCHED``."""

    def process(group: pa.Table) -> pa.Table:
        table, is_new, stored_sim, stored_partner = match_stored(group, id_col)
        id_column = table.column(id_col).combine_chunks()
        ids = id_column.to_numpy(zero_copy_only=False)
        dist = table.column(sd.DIST_COL).to_numpy()
        key = table.column(sd.ORDER_KEY).to_numpy() if sd.ORDER_KEY in table.column_names else None
        partner_in = partner_rows(id_column, stored_partner, is_new)
        max_sim, partner = update_cluster(
            ids,
            dist,
            binary_to_matrix(table.column(sd.EMB_BYTES), dim),
            cfg.order,
            cfg.block_size,
            is_new,
            stored_sim,
            partner_in,
            key,
            sd.keep_values(table),
            cfg.keep_by is None or cfg.keep_by.order == "desc",
        )
        in_full = computed_in_full(is_new, partner_in)
        touched = bool(in_full.any())  # no new row and no lost partner: nothing changed
        columns = sd.result_columns(table, id_column, dist, max_sim, partner)
        columns.append(pa.array(in_full, pa.bool_()))
        columns.append(pa.array(np.full(len(ids), touched), pa.bool_()))
        names = [id_col, sd.CLUSTER_COL, sd.DIST_COL, sd.MAX_SIM_COL, sd.PARTNER_COL]
        return pa.Table.from_arrays(columns, names=[*names, IN_FULL, TOUCHED])

    return process


def match_stored(group: pa.Table, id_col: str) -> tuple[pa.Table, np.ndarray, np.ndarray, pa.Array]:
    """A cluster's union of rows and stored entries -> its rows, whether each is new (no stored
    entry under its id), and each row's stored max_sim (NaN: none) and partner id (null). An
    entry without a row here (its row is gone or now elsewhere) is ignored."""
    is_entry = pc.fill_null(group.column(STORED_ENTRY), False)
    table = group.filter(pc.invert(is_entry))
    entries = group.filter(is_entry)
    ids = table.column(id_col).combine_chunks()
    found = pc.index_in(ids, value_set=entries.column(id_col).combine_chunks())
    is_new = np.asarray(found.is_null().to_numpy(zero_copy_only=False), dtype=bool)
    sims = entries.column(STORED_MAX_SIM).combine_chunks().take(found)
    stored_sim = np.asarray(sims.to_numpy(zero_copy_only=False), dtype=np.float64)  # null: NaN
    partners = entries.column(STORED_PARTNER).combine_chunks().take(found)
    return table, is_new, stored_sim, partners


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
