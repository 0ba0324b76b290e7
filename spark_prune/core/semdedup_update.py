"""SemDeDup on a cluster that gained and lost rows, from its stored results (numpy only).

The rule (``core.semdedup_kernel``): rows in processing order; row j's ``max_sim`` is its largest
stored similarity to an earlier row and its partner that row (ties: the earliest). A row's
order key depends on the row alone, so adding or deleting rows never reorders the old rows
among themselves. For a cluster with old rows (stored ``max_sim`` / partner) and new rows:

* every new row, and every old row whose stored partner was deleted, is computed against all
  earlier rows (old and new): it has no usable stored answer;
* every other old row keeps the better of its stored answer and the best NEW row before it.
  Its maximum over the surviving old rows before it is still its stored one (the partner
  survived and nothing else old moved; deleted rows only shrink the set), so the maximum over
  all earlier rows is the larger of the two. Better: the larger value, or on equal values the
  partner earlier in the new processing order (the rule's tie break).

Work: (new rows + rows whose partner is gone) x cluster + old rows x new rows before them,
instead of cluster² / 2. Similarities are the kernel's stored values (the float64 dot product
of the float32 unit vectors, rounded to float32) from the kernel's own tiles
(``semdedup_kernel.fold_tile``: a float32 screen under a rigorous error bound, float64 only
where a maximum is in contention) of ``block_size`` query rows x ``block_size`` candidate rows
(memory O(n·d + block²)), candidates strictly earlier only, tiles folded in ascending candidate
order with a strict ``>`` so the earliest candidate wins ties.
The result equals ``dedup_cluster`` on the cluster's current rows.
"""

from __future__ import annotations

import numpy as np

from spark_prune.core.ordering import processing_order
from spark_prune.core.semdedup_kernel import fold_tile, screen_tolerance
from spark_prune.core.vectors import l2_normalize

NO_PARTNER = -1  # stored: the row was first in its cluster (max_sim null / -inf)
PARTNER_GONE = -2  # stored: the row's partner was deleted (or rewritten)


def computed_in_full(is_new: np.ndarray, stored_partner: np.ndarray) -> np.ndarray:
    """The rows computed against every earlier row: new rows and rows whose partner is gone.
    The others are computed against the new rows only."""
    return np.asarray(is_new, dtype=bool) | (np.asarray(stored_partner) == PARTNER_GONE)


def update_cluster(
    ids: np.ndarray,
    dist: np.ndarray,
    x: np.ndarray,
    order: str,
    block_size: int,
    is_new: np.ndarray,
    stored_max_sim: np.ndarray,
    stored_partner: np.ndarray,
    random_key: np.ndarray | None = None,
    keep_value: np.ndarray | None = None,
    keep_descending: bool = True,
) -> tuple[np.ndarray, np.ndarray]:
    """(max_sim, partner row index or -1) for every row, aligned with the input rows, equal to
    ``dedup_cluster(ids, dist, x, order, block_size, random_key, keep_value, keep_descending)``.

    ``is_new``: rows without a stored result. For the other rows ``stored_max_sim`` (NaN or
    -inf for none) and ``stored_partner``: the partner's row index in these arrays (an old row),
    ``NO_PARTNER`` or ``PARTNER_GONE``; entries of new rows are ignored.
    """
    _check_block(block_size)
    perm = processing_order(dist, ids, order, random_key, keep_value, keep_descending)
    position = np.empty(len(perm), dtype=np.int64)
    position[perm] = np.arange(len(perm))
    new = np.asarray(is_new, dtype=bool)[perm]
    full = computed_in_full(is_new, stored_partner)[perm]
    old_best, old_partner = _stored_in_order(perm, position, new, stored_max_sim, stored_partner)
    xs = np.ascontiguousarray(l2_normalize(np.asarray(x, dtype=np.float32)[perm]), np.float32)
    best = np.full(len(perm), -np.inf, dtype=np.float64)
    partner = np.full(len(perm), NO_PARTNER, dtype=np.int64)
    rows = np.flatnonzero(full)
    best[rows], partner[rows] = max_over_earlier(xs, rows, np.arange(len(perm)), block_size)
    rows = np.flatnonzero(~full)
    value, arg = max_over_earlier(xs, rows, np.flatnonzero(new), block_size)
    keep = _stored_wins(old_best[rows], old_partner[rows], value, arg)
    best[rows] = np.where(keep, old_best[rows], value)
    partner[rows] = np.where(keep, old_partner[rows], arg)
    return _aligned(perm, best, partner)


def _stored_wins(
    old_value: np.ndarray, old_partner: np.ndarray, value: np.ndarray, arg: np.ndarray
) -> np.ndarray:
    """Whether the stored answer beats the best new row: larger, or equal with its partner
    earlier (equal values without any new candidate: both -inf, nothing to take)."""
    earlier = (arg < 0) | ((old_partner >= 0) & (old_partner < arg))
    return (old_value > value) | ((old_value == value) & earlier)


def _check_block(block_size: int) -> None:
    if isinstance(block_size, bool) or not isinstance(block_size, int) or block_size < 1:
        raise ValueError(f"semdedup block_size must be an integer >= 1, got {block_size!r}")


def _stored_in_order(
    perm: np.ndarray,
    position: np.ndarray,
    new: np.ndarray,
    stored_max_sim: np.ndarray,
    stored_partner: np.ndarray,
) -> tuple[np.ndarray, np.ndarray]:
    """The old rows' stored answers in processing order: (value, partner position or -1)
    (-inf / -1 for new rows and rows without a partner). Refuses a partner that is a new row
    or not earlier: the stored results do not belong to these rows and this order."""
    value = np.nan_to_num(np.asarray(stored_max_sim, dtype=np.float64)[perm], nan=-np.inf)
    given = np.asarray(stored_partner, dtype=np.int64)[perm]
    has = (given >= 0) & ~new
    partner = np.full(len(perm), NO_PARTNER, dtype=np.int64)
    partner[has] = position[given[has]]
    rows = np.flatnonzero(has)
    if rows.size and (new[partner[rows]].any() or (partner[rows] >= rows).any()):
        raise ValueError("stored partners must be earlier old rows of the same cluster")
    value[new | (given < 0)] = -np.inf
    return value, partner


def max_over_earlier(
    xs: np.ndarray, rows: np.ndarray, candidates: np.ndarray, block_size: int
) -> tuple[np.ndarray, np.ndarray]:
    """For each of ``rows`` (ascending positions of the ordered float32 unit matrix ``xs``):
    the largest stored similarity to the ``candidates`` (ascending positions) strictly before
    it, and the earliest position holding it; ``-inf`` / -1 where no candidate is earlier.
    The kernel's tiles (``fold_tile``: float32 screen, float64 where it matters)."""
    best = np.full(len(rows), -np.inf, dtype=np.float64)
    partner = np.full(len(rows), NO_PARTNER, dtype=np.int64)
    tol = screen_tolerance(xs)
    for start in range(0, len(rows), block_size):
        block = rows[start : start + block_size]
        limit = int(np.searchsorted(candidates, block[-1]))  # candidates before the last row
        view = slice(start, start + len(block))
        direct = False
        for left in range(0, limit, block_size):
            cols = candidates[left : min(left + block_size, limit)]
            direct = fold_tile(xs, block, cols, best[view], partner[view], tol, direct)
    return best, partner


def _aligned(
    perm: np.ndarray, best: np.ndarray, partner: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Processing-order results back to the input rows' order (partners as row indices)."""
    max_sim = np.empty_like(best)
    max_sim[perm] = best
    out = np.full(len(perm), NO_PARTNER, dtype=np.int64)
    has = partner >= 0
    out[perm[has]] = perm[partner[has]]
    return max_sim, out
