"""The split SemDeDup kernel (core/semdedup_split.py): task numbering, the merge rule, and the
split answer equal to the unsplit kernel's, ties and exact duplicates included."""

from __future__ import annotations

import numpy as np
import pytest

from spark_prune.core.semdedup_kernel import max_similarity_to_earlier
from spark_prune.core.semdedup_split import (
    merge_partials,
    row_block_rows,
    split_max_similarity,
    task_blocks,
    task_id,
    tasks_of_block,
)
from tests.helpers import dup_heavy


def test_task_numbering() -> None:
    seen = [task_blocks(t) for t in range(task_id(5, 5) + 1)]
    assert seen == [(r, c) for r in range(6) for c in range(r + 1)]
    assert tasks_of_block(1, 4) == [task_id(1, 0), task_id(1, 1), task_id(2, 1), task_id(3, 1)]
    assert sum(len(tasks_of_block(b, 4)) for b in range(4)) == 4 * 4  # P copies of each block
    assert row_block_rows(50, 16) == 64 and row_block_rows(64, 16) == 64


def test_merge_prefers_max_then_earliest_partner() -> None:
    row = np.array([3, 3, 3, 1, 1, 0])
    sim = np.array([0.5, 0.9, 0.9, -np.inf, 0.2, -np.inf])
    partner = np.array([0, 7, 4, -1, 0, -1])
    winner = merge_partials(row, sim, partner)
    assert row[winner].tolist() == [0, 1, 3]
    assert partner[winner].tolist() == [-1, 0, 4]  # 0.9 twice: the earlier partner (4) wins
    assert merge_partials(row[:0], sim[:0], partner[:0]).size == 0


@pytest.mark.parametrize("block_rows", [16, 48, 96, 1000])
def test_split_equals_unsplit(block_rows: int) -> None:
    x = dup_heavy(block_rows, 300, 12)
    best, partner = max_similarity_to_earlier(x, 16)
    split_best, split_partner = split_max_similarity(x, block_rows, 16)
    np.testing.assert_array_equal(split_best, best)
    np.testing.assert_array_equal(split_partner, partner)
    assert (partner[100:150] == 2).all()  # ties resolved to the earliest copy in every task
