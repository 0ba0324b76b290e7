"""SemDeDup (Abbas et al. 2023), exact at any cluster size.

Inside each k-means cluster, rows are put in order (``hard``: farthest from the centroid first,
ties by id). Row j's ``max_sim`` is its largest similarity to any earlier row and its partner is
that row (ties: the earliest). Row j is removed iff ``max_sim > 1 − eps``, comparing against every
earlier row whether or not it was removed itself. Storing ``max_sim`` and ``partner`` lets any eps
be applied later without recomputing similarities.

Clusters are processed whole (never split into chunks that miss cross-chunk pairs), in square
tiles of ``block_size`` rows, so memory is O(cluster·d + block²).

Similarities: a stored value is the float64 dot product of the float32 unit vectors, rounded to
float32 (the manifest records this). Tiles are screened with a float32 matrix product (1.6x
faster than float64 here); only the entries that a rigorous bound on the float32 rounding error
leaves in contention for a row's maximum are recomputed in float64. Where most rows of a tile
are in contention with many columns (runs of duplicates) the next tile skips the screen and is
one float64 product, so the worst case costs about what plain float64 would.

BLAS sums in a shape-dependent order, so float64 results differ by block shape in their last
bits; rounding to float32 absorbs that, which makes the answer independent of block size (the
exception would be a float64 product within ~1e-15 of a float32 rounding boundary that decides a
maximum: roughly 1e-8 per row). For a given block size the computation is the same whatever the
partitioning, so it is bit-for-bit repeatable.
"""

from __future__ import annotations

import numpy as np

from spark_prune.core.ordering import processing_order
from spark_prune.core.vectors import l2_normalize

SIMILARITY_DTYPE = "float32"
SIMILARITY_METHOD = (
    "float64 dot products of float32 unit vectors, rounded to float32 "
    "(screened with float32 products under a rigorous error bound)"
)
UNIT_ROUNDOFF_32 = 2.0**-24
# Above this many screened candidates a row's tile is recomputed as one float64 product.
MAX_CANDIDATES_PER_ROW = 16


def check_eps(eps: float) -> float:
    """eps must be a finite number in [0, 2): cosine similarities lie in [-1, 1]."""
    if not isinstance(eps, (int, float)) or not 0 <= eps < 2:
        raise ValueError(f"semdedup eps must be a number in [0, 2), got {eps!r}")
    return float(eps)


def removed_mask(max_sim: np.ndarray, eps: float) -> np.ndarray:
    """The rule in numpy: removed iff ``max_sim > 1 − eps``. The first row of a cluster has
    ``max_sim = -inf`` (NaN is accepted too) and is always kept."""
    threshold = 1.0 - check_eps(eps)
    values = np.asarray(max_sim, dtype=np.float64)
    return np.asarray(np.nan_to_num(values, nan=-np.inf) > threshold)


def screen_tolerance(x: np.ndarray) -> float:
    """A bound on |float32 product − stored value| for any pair of rows of ``x``.

    The float32 inner product of length d errs by at most γ_d·Σ|x_k·y_k| ≤ γ_d·‖x‖‖y‖ with
    γ_d = d·u / (1 − d·u), u = 2⁻²⁴, whatever the summation order; the stored value (float64
    rounded to float32) is within u·|x·y| (plus ~1e-16) of the exact product.
    """
    d = x.shape[1]
    if d * UNIT_ROUNDOFF_32 >= 0.5:
        raise ValueError(f"embedding dimension {d} is too large for the float32 screen")
    norm2 = float(np.max(np.einsum("ij,ij->i", x, x, dtype=np.float64))) if len(x) else 1.0
    gamma = d * UNIT_ROUNDOFF_32 / (1 - d * UNIT_ROUNDOFF_32)
    return (gamma + 1.01 * UNIT_ROUNDOFF_32) * norm2 * 1.01 + 1e-12


def _stored_similarity(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Row-wise <a_i, b_i>: exact float32 products summed in float64, rounded to float32."""
    sums = np.einsum("ij,ij->i", a.astype(np.float64), b.astype(np.float64))
    return sums.astype(np.float32).astype(np.float64)


def _mask_not_earlier(sims: np.ndarray, rows: np.ndarray, cols: np.ndarray) -> None:
    """Hide the columns that are not strictly before each row (a tile on the diagonal)."""
    sims[cols[None, :] >= rows[:, None]] = -np.inf


def _exact_tile(
    x: np.ndarray, rows: np.ndarray, cols: np.ndarray, tol: float
) -> tuple[np.ndarray, np.ndarray, float]:
    """Stored values of ``rows`` against ``cols`` (ascending positions) as one float64 product:
    (max, argmax column with the earliest on ties, share of rows the screen would find
    crowded)."""
    sims = (x[rows].astype(np.float64) @ x[cols].astype(np.float64).T).astype(np.float32)
    if cols[-1] >= rows[0]:
        _mask_not_earlier(sims, rows, cols)
    arg = sims.argmax(axis=1)
    top = sims[np.arange(len(rows)), arg].astype(np.float64)
    near = (sims >= (top - 2 * tol)[:, None]).sum(axis=1)
    return top, cols[arg], float(np.mean(near > MAX_CANDIDATES_PER_ROW))


def _first_max_per_row(
    row: np.ndarray, col: np.ndarray, value: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Per row of a (row, col)-sorted pair list: (max value, its earliest col)."""
    starts = np.flatnonzero(np.r_[True, row[1:] != row[:-1]])
    top = np.maximum.reduceat(value, starts)
    at_top = np.flatnonzero(value == top[np.searchsorted(starts, np.arange(len(row)), "right") - 1])
    _, first = np.unique(row[at_top], return_index=True)
    return top, col[at_top[first]]


def _candidates_exact(
    x: np.ndarray, rows: np.ndarray, cols: np.ndarray, near: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Stored values of the screened candidates only: (max, earliest argmax column) per row."""
    row, col = np.nonzero(near)
    value = _stored_similarity(x[rows[row]], x[cols[col]])
    top, arg = _first_max_per_row(row, col, value)
    return top, cols[arg]


def _screen_tile(
    x: np.ndarray, rows: np.ndarray, cols: np.ndarray, best: np.ndarray, tol: float
) -> tuple[np.ndarray, np.ndarray, np.ndarray, float]:
    """The float32 screen of one tile: (indices into ``rows`` that may improve, their max,
    argmax column, crowded share).

    A row is looked at only if its screened maximum could reach its best so far. Its exact
    argmax is among the columns within 2·tol of the screened maximum: those few pairs are
    recomputed in float64; a row with many (near ties, duplicates) gets its tile recomputed
    as one float64 product instead.
    """
    sims = x[rows] @ x[cols].T
    if cols[-1] >= rows[0]:
        _mask_not_earlier(sims, rows, cols)
    top = sims.max(axis=1)
    live = np.flatnonzero((top > -np.inf) & (top >= best - tol))
    near = sims[live] >= (top[live] - 2 * tol)[:, None]
    few = near.sum(axis=1) <= MAX_CANDIDATES_PER_ROW
    value = np.empty(live.size, dtype=np.float64)
    arg = np.empty(live.size, dtype=np.int64)
    if few.any():
        value[few], arg[few] = _candidates_exact(x, rows[live[few]], cols, near[few])
    if not few.all():
        value[~few], arg[~few], _ = _exact_tile(x, rows[live[~few]], cols, tol)
    return live, value, arg, float(np.mean(~few)) if live.size else 0.0


def fold_tile(
    x: np.ndarray,
    rows: np.ndarray,
    cols: np.ndarray,
    best: np.ndarray,
    partner: np.ndarray,
    tol: float,
    direct: bool = False,
) -> bool:
    """Fold one tile, the float32 unit rows at positions ``rows`` against the columns at
    positions ``cols`` (both ascending; only columns strictly before a row count), into
    ``best`` / ``partner`` (aligned with ``rows``, updated in place). Tiles are folded in
    ascending column order and earlier tiles win ties (strict ``>``). ``direct`` skips the
    screen (one float64 product, the same stored values); returns whether the next tile should
    too, i.e. whether most rows were crowded (runs of duplicates, where screening would only
    add work)."""
    if direct:
        target = np.arange(len(rows))
        value, arg, crowded = _exact_tile(x, rows, cols, tol)
    else:
        target, value, arg, crowded = _screen_tile(x, rows, cols, best, tol)
    better = value > best[target]
    best[target[better]] = value[better]
    partner[target[better]] = arg[better]
    return crowded > 0.5


def max_similarity_to_earlier(x: np.ndarray, block_size: int) -> tuple[np.ndarray, np.ndarray]:
    """For rows already in processing order: ``max_sim[j] = max_{i<j} <x_i, x_j>`` (float64
    holding a float32 value) and ``partner[j]`` = that i (int64; ties: the earliest i).

    Row 0 has nothing before it: ``max_sim = -inf`` and partner ``-1``; it is never removed, and
    a singleton cluster keeps its row. Tiles are block_size × block_size over the lower triangle,
    so memory is O(n·d + block²); the result does not depend on block_size.
    """
    if isinstance(block_size, bool) or not isinstance(block_size, int) or block_size < 1:
        raise ValueError(f"semdedup block_size must be an integer >= 1, got {block_size!r}")
    xs = np.ascontiguousarray(x, dtype=np.float32)
    if xs.ndim != 2:
        raise ValueError(f"expected an (n, d) matrix, got shape {xs.shape}")
    n = xs.shape[0]
    best = np.full(n, -np.inf, dtype=np.float64)
    partner = np.full(n, -1, dtype=np.int64)
    tol = screen_tolerance(xs)
    for start in range(0, n, block_size):
        stop = min(start + block_size, n)
        rows, direct = np.arange(start, stop), False
        for left in range(0, stop, block_size):
            cols = np.arange(left, min(left + block_size, stop))
            direct = fold_tile(xs, rows, cols, best[start:stop], partner[start:stop], tol, direct)
    return best, partner


def max_similarity_to_columns(
    x: np.ndarray, n_columns: int, block_size: int
) -> tuple[np.ndarray, np.ndarray]:
    """Rows ``x[n_columns:]`` against the columns ``x[:n_columns]``, all of which come before
    every row: (max stored value, earliest argmax column), one entry per row. The same tiles,
    screen and tie rule as :func:`max_similarity_to_earlier` (a rectangle of its triangle);
    with no columns a row gets ``-inf`` and ``-1``."""
    if isinstance(block_size, bool) or not isinstance(block_size, int) or block_size < 1:
        raise ValueError(f"semdedup block_size must be an integer >= 1, got {block_size!r}")
    xs = np.ascontiguousarray(x, dtype=np.float32)
    n = xs.shape[0]
    best = np.full(n, -np.inf, dtype=np.float64)
    partner = np.full(n, -1, dtype=np.int64)
    tol = screen_tolerance(xs)
    for start in range(n_columns, n, block_size):
        stop = min(start + block_size, n)
        rows, direct = np.arange(start, stop), False
        for left in range(0, n_columns, block_size):
            cols = np.arange(left, min(left + block_size, n_columns))
            direct = fold_tile(xs, rows, cols, best[start:stop], partner[start:stop], tol, direct)
    return best[n_columns:], partner[n_columns:]


def dedup_cluster(
    ids: np.ndarray,
    dist: np.ndarray,
    x: np.ndarray,
    order: str,
    block_size: int,
    random_key: np.ndarray | None = None,
    keep_value: np.ndarray | None = None,
    keep_descending: bool = True,
) -> tuple[np.ndarray, np.ndarray]:
    """The rule on one cluster: (max_sim, partner position or -1), both aligned with the input
    rows (not the processing order). ``keep_value``: order by this value instead (keep_by).

    ``x`` is L2-normalised here (float32, as the assignment step does), so raw embeddings are fine.
    """
    perm = processing_order(dist, ids, order, random_key, keep_value, keep_descending)
    ordered_sim, ordered_partner = max_similarity_to_earlier(l2_normalize(x[perm]), block_size)
    max_sim = np.empty_like(ordered_sim)
    partner = np.full(len(perm), -1, dtype=np.int64)
    max_sim[perm] = ordered_sim
    has = ordered_partner >= 0
    partner[perm[has]] = perm[ordered_partner[has]]
    return max_sim, partner
