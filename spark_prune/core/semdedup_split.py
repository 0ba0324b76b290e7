"""One big SemDeDup cluster as many independent tasks, and the rule that merges their answers.

A cluster of n rows, already in processing order, is cut into row blocks of ``m`` rows
(``m`` a multiple of the tile size, so every task computes exactly the tiles the unsplit
kernel would). Task (r, c), c ≤ r, compares the rows of block r with the rows of block c that
come before them (c < r: the whole block; c = r: the earlier rows of the same block). There
are P(P+1)/2 tasks for P = ceil(n / m) blocks; a row of block b takes part in b + 1 tasks as a
row and in P − 1 − b as a column.

Each task gives every row a partial (max stored similarity, partner position). Merging keeps
the largest similarity and, among equal similarities, the **earliest partner position**: the
same tie rule as the unsplit kernel, so the merged answer is the unsplit answer.
"""

from __future__ import annotations

import math

import numpy as np

from spark_prune.core.semdedup_kernel import max_similarity_to_columns, max_similarity_to_earlier


def row_block_rows(split_rows: int, block_size: int) -> int:
    """Rows per row block: ``split_rows`` rounded up to a multiple of the tile size."""
    return max(1, math.ceil(split_rows / block_size)) * block_size


def task_id(r: int, c: int) -> int:
    """The task of row block r against column block c (0 ≤ c ≤ r), numbered densely."""
    return r * (r + 1) // 2 + c


def task_blocks(task: int) -> tuple[int, int]:
    """The inverse of :func:`task_id`: (row block, column block)."""
    r = (math.isqrt(8 * task + 1) - 1) // 2
    return r, task - task_id(r, 0)


def tasks_of_block(block: int, n_blocks: int) -> list[int]:
    """Every task a row of ``block`` takes part in (as a row, then as a column)."""
    as_row = [task_id(block, c) for c in range(block + 1)]
    return as_row + [task_id(r, block) for r in range(block + 1, n_blocks)]


def task_similarities(
    rows: np.ndarray, columns: np.ndarray | None, block_size: int
) -> tuple[np.ndarray, np.ndarray]:
    """One task: for each row (unit float32, in processing order), its max stored similarity
    to the columns and the earliest such column's index. ``columns`` None is the diagonal
    task: the rows against the rows before them (index into ``rows``)."""
    if columns is None:
        return max_similarity_to_earlier(rows, block_size)
    both = np.concatenate([columns, rows]) if len(columns) else rows
    return max_similarity_to_columns(both, len(columns), block_size)


def merge_partials(row: np.ndarray, similarity: np.ndarray, partner: np.ndarray) -> np.ndarray:
    """Partials (row position, similarity, partner position; ``-inf`` and ``-1`` when a task
    had no column for the row) -> the index of the winning partial of each distinct row, rows
    ascending: the largest similarity, and among equal ones the earliest partner position."""
    row = np.asarray(row, dtype=np.int64)
    similarity = np.asarray(similarity, dtype=np.float64)
    partner = np.asarray(partner, dtype=np.int64)
    order = np.lexsort((partner, -similarity, row))
    if not len(order):
        return order
    return order[np.r_[True, row[order][1:] != row[order][:-1]]]


def split_max_similarity(
    x: np.ndarray, block_rows: int, block_size: int
) -> tuple[np.ndarray, np.ndarray]:
    """:func:`max_similarity_to_earlier` computed task by task and merged (the Spark path's
    arithmetic in one process): the same (max_sim, partner) for rows in processing order."""
    n = len(x)
    n_blocks = max(1, math.ceil(n / block_rows))
    parts: list[tuple[np.ndarray, np.ndarray, np.ndarray]] = []
    for task in range(task_id(n_blocks - 1, n_blocks - 1) + 1):
        r, c = task_blocks(task)
        rows = np.arange(r * block_rows, min(n, (r + 1) * block_rows))
        cols = np.arange(c * block_rows, min(n, (c + 1) * block_rows))
        sim, arg = task_similarities(x[rows], None if r == c else x[cols], block_size)
        source = rows if r == c else cols
        parts.append((rows, sim, np.where(arg >= 0, source[np.maximum(arg, 0)], -1)))
    row, sim, partner = (np.concatenate(p) for p in zip(*parts, strict=True))
    winner = merge_partials(row, sim, partner)
    return sim[winner], partner[winner]
