"""SemDeDup's big clusters across many tasks (``semdedup.split_rows``), decisions unchanged.

A cluster expected to hold more than ``split_rows`` rows (the k-means fit's estimate; a wrong
estimate only changes the speed, never the answer) is processed in three steps:

1. positions: one light ``applyInArrow`` per big cluster over ``(id, dist, order key)`` only
   puts its rows in processing order (``core.ordering``, exactly as the unsplit path does) and
   gives each row its position, its row block and the tasks it takes part in;
2. tasks: the rows, joined to their positions, are exploded into their tasks and grouped by
   (cluster, task); each task runs the exact kernel on its rectangle of the triangle
   (``core.semdedup_split``) and returns a partial (max, partner) per row;
3. merge: grouped by (cluster, row block), the partials are merged by the core rule (largest
   similarity, then the earliest partner position).

A row of block b goes to P tasks (b + 1 as a row, P − 1 − b as a column), so the shuffle moves
P copies of the cluster's embeddings for P row blocks: the price of spreading P(P+1)/2 tasks
of at most m² pairs each over the executors. ``assigned`` is persisted by the caller so the
assignment is not computed twice (the big and the small clusters read it).
"""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np
import pyarrow as pa
from pyspark.sql import DataFrame
from pyspark.sql import functions as F
from pyspark.sql import types as T

from spark_prune.config import SemDedupConfig
from spark_prune.core.ordering import order_within_cluster
from spark_prune.core.semdedup_split import (
    merge_partials,
    row_block_rows,
    task_blocks,
    task_similarities,
    tasks_of_block,
)
from spark_prune.core.vectors import binary_to_matrix, l2_normalize

POS, BLOCK, TASKS, TASK = "_split_pos", "_split_block", "_split_tasks", "_split_task"
SIM, PARTNER_POS, PARTNER_ID = "_split_sim", "_split_partner_pos", "_split_partner_id"


def big_clusters(estimated_rows: np.ndarray, split_rows: int) -> list[int]:
    """Cluster ids expected to hold more than ``split_rows`` rows (0 turns splitting off)."""
    if split_rows <= 0:
        return []
    return [int(c) for c in np.flatnonzero(np.asarray(estimated_rows) > split_rows)]


def dedup_with_split(
    assigned: DataFrame,
    big: list[int],
    cols: dict[str, str],
    dim: int,
    cfg: SemDedupConfig,
    schema: T.StructType,
    whole_cluster: Callable[[pa.Table], pa.Table],
) -> DataFrame:
    """The SemDeDup result (``schema``) of ``assigned``: clusters in ``big`` split across
    tasks, the others whole (``whole_cluster``). ``cols`` names the id, cluster, dist,
    embedding-bytes and order-key columns. ``assigned`` should be persisted: it is read twice."""
    cluster = cols["cluster"]
    is_big = F.col(cluster).isin(big)
    small = assigned.filter(~is_big).groupBy(cluster).applyInArrow(whole_cluster, schema)
    rows = assigned.filter(is_big)
    keys = [c for c in (cols["id"], cluster, cols["dist"], cols["key"]) if c in rows.columns]
    positions = (
        rows.select(*keys)
        .groupBy(cluster)
        .applyInArrow(_positions_function(cols, cfg), _positions_schema(rows.schema[cols["id"]]))
    )
    tagged = rows.join(positions, cols["id"]).withColumn(TASK, F.explode(TASKS)).drop(TASKS)
    partials = tagged.groupBy(cluster, TASK).applyInArrow(
        _task_function(cols, dim, cfg), _partials_schema(rows.schema, cols)
    )
    merged = partials.groupBy(cluster, BLOCK).applyInArrow(_merge_function(cols, schema), schema)
    return small.unionByName(merged)


def _positions_schema(id_field: T.StructField) -> T.StructType:
    return T.StructType(
        [
            id_field,
            T.StructField(POS, T.LongType(), False),
            T.StructField(BLOCK, T.IntegerType(), False),
            T.StructField(TASKS, T.ArrayType(T.IntegerType()), False),
        ]
    )


def _positions_function(
    cols: dict[str, str], cfg: SemDedupConfig
) -> Callable[[pa.Table], pa.Table]:
    """A big cluster's (id, dist, key) -> each row's position, row block and tasks."""
    block_rows = row_block_rows(cfg.split_rows, cfg.block_size)

    def positions(table: pa.Table) -> pa.Table:
        ids = table.column(cols["id"]).combine_chunks()
        dist = table.column(cols["dist"]).to_numpy()
        key = table.column(cols["key"]).to_numpy() if cols["key"] in table.column_names else None
        perm = order_within_cluster(dist, ids.to_numpy(zero_copy_only=False), cfg.order, key)
        pos = np.empty(len(perm), dtype=np.int64)
        pos[perm] = np.arange(len(perm))
        block = pos // block_rows
        n_blocks = max(1, math.ceil(len(perm) / block_rows))
        per_block = [tasks_of_block(b, n_blocks) for b in range(n_blocks)]
        lengths = np.array([len(t) for t in per_block], dtype=np.int32)[block]
        offsets = np.r_[0, np.cumsum(lengths)].astype(np.int32)
        flat = np.concatenate([np.array(per_block[b], dtype=np.int32) for b in block])
        tasks = pa.ListArray.from_arrays(pa.array(offsets), pa.array(flat, pa.int32()))
        return pa.Table.from_arrays(
            [ids, pa.array(pos), pa.array(block.astype(np.int32)), tasks],
            names=[cols["id"], POS, BLOCK, TASKS],
        )

    return positions


def _partials_schema(source: T.StructType, cols: dict[str, str]) -> T.StructType:
    id_type = source[cols["id"]].dataType
    return T.StructType(
        [
            T.StructField(cols["id"], id_type, False),
            T.StructField(cols["cluster"], T.IntegerType(), False),
            T.StructField(cols["dist"], T.DoubleType(), False),
            T.StructField(POS, T.LongType(), False),
            T.StructField(BLOCK, T.IntegerType(), False),
            T.StructField(SIM, T.DoubleType(), False),
            T.StructField(PARTNER_POS, T.LongType(), False),
            T.StructField(PARTNER_ID, id_type, True),
        ]
    )


def _task_function(
    cols: dict[str, str], dim: int, cfg: SemDedupConfig
) -> Callable[[pa.Table], pa.Table]:
    """One task (rows of block r, columns of block c) -> a partial for each row of block r."""

    def task(table: pa.Table) -> pa.Table:
        r, c = task_blocks(int(table.column(TASK)[0].as_py()))
        block = table.column(BLOCK).to_numpy()
        pos = table.column(POS).to_numpy()
        rows = np.flatnonzero(block == r)
        rows = rows[np.argsort(pos[rows])]
        columns = rows if r == c else np.flatnonzero(block == c)
        columns = columns[np.argsort(pos[columns])]
        x = binary_to_matrix(table.column(cols["emb"]), dim)
        sim, arg = task_similarities(
            l2_normalize(x[rows]), None if r == c else l2_normalize(x[columns]), cfg.block_size
        )
        none = arg < 0
        partner = columns[np.maximum(arg, 0)]
        ids = table.column(cols["id"]).combine_chunks()
        return pa.Table.from_arrays(
            [
                ids.take(pa.array(rows)),
                table.column(cols["cluster"]).combine_chunks().take(pa.array(rows)),
                table.column(cols["dist"]).combine_chunks().take(pa.array(rows)),
                pa.array(pos[rows]),
                pa.array(np.full(len(rows), r, dtype=np.int32)),
                pa.array(sim, pa.float64()),
                pa.array(np.where(none, -1, pos[partner])),
                ids.take(pa.array(partner, pa.int64(), mask=none)),
            ],
            names=[
                cols["id"],
                cols["cluster"],
                cols["dist"],
                POS,
                BLOCK,
                SIM,
                PARTNER_POS,
                PARTNER_ID,
            ],
        )

    return task


def _merge_function(cols: dict[str, str], schema: T.StructType) -> Callable[[pa.Table], pa.Table]:
    """A row block's partials -> its rows' SemDeDup columns (``schema``)."""

    def merge(table: pa.Table) -> pa.Table:
        sim = table.column(SIM).to_numpy()
        winner = merge_partials(
            table.column(POS).to_numpy(), sim, table.column(PARTNER_POS).to_numpy()
        )
        none = table.column(PARTNER_POS).to_numpy()[winner] < 0
        take = pa.array(winner)
        return pa.Table.from_arrays(
            [
                table.column(cols["id"]).combine_chunks().take(take),
                table.column(cols["cluster"]).combine_chunks().take(take),
                table.column(cols["dist"]).combine_chunks().take(take),
                pa.array(np.where(none, 0.0, sim[winner]), pa.float64(), mask=none),
                table.column(PARTNER_ID).combine_chunks().take(take),
            ],
            names=schema.fieldNames(),
        )

    return merge
