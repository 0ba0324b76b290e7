"""The incremental SemDeDup update (core/semdedup_update.py) against ``dedup_cluster`` on the
cluster's final rows, with the stored inputs taken from ``dedup_cluster`` on the old rows."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import pytest

from spark_prune.core.semdedup_kernel import dedup_cluster
from spark_prune.core.semdedup_update import (
    NO_PARTNER,
    PARTNER_GONE,
    computed_in_full,
    update_cluster,
)

ORDERS = ("hard", "easy", "random", "keep_desc", "keep_asc")


@dataclass
class Rows:
    """One cluster's rows: ids, dist, embeddings, random key, keep_by value."""

    ids: np.ndarray
    dist: np.ndarray
    x: np.ndarray
    key: np.ndarray
    keep: np.ndarray

    def take(self, index: np.ndarray) -> Rows:
        return Rows(*(a[index] for a in (self.ids, self.dist, self.x, self.key, self.keep)))

    def join(self, other: Rows) -> Rows:
        parts = zip(
            (self.ids, self.dist, self.x, self.key, self.keep),
            (other.ids, other.dist, other.x, other.key, other.keep),
            strict=True,
        )
        return Rows(*(np.concatenate(pair) for pair in parts))


def make_rows(rng: np.random.Generator, ids: np.ndarray, d: int = 6) -> Rows:
    """Tie-heavy rows: small-integer embeddings (exact duplicates, equal similarities to
    different rows), coarse dist / keys / keep values (order ties broken by id), some NaN."""
    n = len(ids)
    x = rng.integers(0, 3, size=(n, d)).astype(np.float32)
    x[x.sum(axis=1) == 0, 0] = 1.0
    dist = rng.integers(0, 4, size=n) / 4.0
    key = rng.integers(-3, 3, size=n).astype(np.int64)
    keep = rng.integers(0, 3, size=n).astype(np.float64)
    keep[rng.random(n) < 0.2] = np.nan
    return Rows(ids, dist, x, key, keep)


def order_kwargs(rows: Rows, order: str) -> dict[str, Any]:
    """The order arguments of ``dedup_cluster`` for these rows (``keep_*``: keep_by)."""
    if order.startswith("keep_"):
        return {"order": "hard", "keep_value": rows.keep, "keep_descending": order == "keep_desc"}
    return {"order": order, "random_key": rows.key if order == "random" else None}


def stored_inputs(
    old: Rows, source: np.ndarray, order: str, block: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``dedup_cluster`` on the old rows, expressed for the final rows: (is_new, stored
    max_sim, stored partner row index / NO_PARTNER / PARTNER_GONE). ``source``: each final
    row's index among the old rows, or -1 for a new row."""
    old_sim, old_partner = dedup_cluster(
        old.ids, old.dist, old.x, block_size=block, **order_kwargs(old, order)
    )
    is_new = source < 0
    row_of_old = np.full(len(old.ids), PARTNER_GONE)
    row_of_old[source[~is_new]] = np.flatnonzero(~is_new)
    stored_sim = np.full(len(source), np.nan)
    stored_partner = np.full(len(source), NO_PARTNER)
    stored_sim[~is_new] = old_sim[source[~is_new]]
    given = old_partner[source[~is_new]]
    stored_partner[~is_new] = np.where(given < 0, NO_PARTNER, row_of_old[np.maximum(given, 0)])
    return is_new, stored_sim, stored_partner


def check_update(old: Rows, deleted: np.ndarray, new: Rows, order: str, block: int) -> np.ndarray:
    """Delete rows ``deleted`` (old indices), add ``new``, shuffle; the update from the stored
    results must equal a fresh ``dedup_cluster`` on the final rows. Returns which rows were
    computed in full."""
    rng = np.random.default_rng(len(old.ids) * 31 + len(new.ids))
    survivors = np.setdiff1d(np.arange(len(old.ids)), deleted)
    shuffle = rng.permutation(len(survivors) + len(new.ids))
    final = old.take(survivors).join(new).take(shuffle)
    source = np.concatenate([survivors, np.full(len(new.ids), -1)])[shuffle]
    is_new, stored_sim, stored_partner = stored_inputs(old, source, order, block)
    kwargs = order_kwargs(final, order)
    got_sim, got_partner = update_cluster(
        final.ids,
        final.dist,
        final.x,
        block_size=block,
        is_new=is_new,
        stored_max_sim=stored_sim,
        stored_partner=stored_partner,
        **kwargs,
    )
    want_sim, want_partner = dedup_cluster(
        final.ids, final.dist, final.x, block_size=block, **kwargs
    )
    np.testing.assert_array_equal(got_partner, want_partner)
    np.testing.assert_array_equal(got_sim, want_sim)
    return computed_in_full(is_new, stored_partner)


def scenario(seed: int, n_old: int, n_new: int, n_deleted: int) -> tuple[Rows, np.ndarray, Rows]:
    """Old rows, which to delete, new rows (ids disjoint; new rows may copy old embeddings)."""
    rng = np.random.default_rng(seed)
    ids = rng.permutation(10 * (n_old + n_new) + 10)[: n_old + n_new]
    old, new = make_rows(rng, ids[:n_old]), make_rows(rng, ids[n_old:])
    if n_new and n_old:
        copies = rng.integers(0, n_old, size=n_new)
        pick = rng.random(n_new) < 0.3
        new.x[pick] = old.x[copies[pick]]
    deleted = rng.choice(n_old, size=n_deleted, replace=False) if n_deleted else np.array([], int)
    return old, deleted, new


@pytest.mark.parametrize("order", ORDERS)
@pytest.mark.parametrize("block", [2, 64])
def test_appends_deletes_and_both(order: str, block: int) -> None:
    full_rows = 0
    for seed in range(8):
        for n_new, n_deleted in ((5, 0), (0, 6), (4, 5), (30, 2)):
            old, deleted, new = scenario(100 * seed + n_new, 40, n_new, n_deleted)
            full_rows += int(check_update(old, deleted, new, order, block).sum())
    assert full_rows > 0


@pytest.mark.parametrize("order", ORDERS)
def test_deleted_partner_and_deleted_first_row(order: str) -> None:
    old, _, new = scenario(7, 30, 3, 0)
    _, partner = dedup_cluster(old.ids, old.dist, old.x, block_size=4, **order_kwargs(old, order))
    first = int(np.flatnonzero(partner < 0)[0])
    a_partner = int(np.bincount(partner[partner >= 0]).argmax())  # the most used partner
    for deleted in ([first], [a_partner], [first, a_partner]):
        for added in (new.take(np.array([], int)), new):
            computed = check_update(old, np.array(deleted), added, order, 4)
            assert computed.sum() >= len(added.ids) + (deleted != [first])


def test_exact_duplicates_of_old_rows_added_before_them() -> None:
    """New copies that come first in the order take over as partner; equal similarities to an
    old and a new row go to the earlier one."""
    old, _, _ = scenario(3, 20, 0, 0)
    new = old.take(np.arange(20))
    new.ids = old.ids + 1000
    new.dist = old.dist + 1.0  # hard order: every copy before every old row
    for order in ("hard", "easy"):
        check_update(old, np.array([2, 5]), new, order, 3)


def test_only_new_rows_and_no_old_rows() -> None:
    old, _, new = scenario(11, 0, 25, 0)
    assert check_update(old, np.array([], int), new, "hard", 4).all()
    old, deleted, new = scenario(12, 25, 0, 25)
    assert check_update(old, deleted, new, "hard", 4).size == 0


def test_unchanged_cluster_keeps_its_stored_answer_without_full_rows() -> None:
    old, _, new = scenario(13, 30, 0, 0)
    assert not check_update(old, np.array([], int), new, "random", 5).any()


def test_refuses_stored_partners_that_are_not_earlier_old_rows() -> None:
    rng = np.random.default_rng(1)
    rows = make_rows(rng, np.arange(4))
    rows.dist = np.array([0.4, 0.3, 0.2, 0.1])  # hard order: rows 0, 1, 2, 3
    args = (rows.ids, rows.dist, rows.x, "hard", 2)
    sim = np.array([np.nan, 0.5, 0.5, 0.5])
    with pytest.raises(ValueError, match="earlier old rows"):
        update_cluster(*args, np.zeros(4, bool), sim, np.array([-1, 2, 0, 0]))
    with pytest.raises(ValueError, match="earlier old rows"):
        update_cluster(*args, np.array([True, False, False, False]), sim, np.array([-1, 0, 0, 0]))
    with pytest.raises(ValueError, match="block_size"):
        update_cluster(*args[:4], 0, np.zeros(4, bool), sim, np.array([-1, 0, 0, 0]))
