"""The SemDeDup tile kernel (core/semdedup_kernel.py) against brute force; block-size
independence; the removal rule."""

from __future__ import annotations

import numpy as np
import pytest

from spark_prune.core.ordering import order_within_cluster
from spark_prune.core.semdedup_kernel import (
    dedup_cluster,
    max_similarity_to_columns,
    max_similarity_to_earlier,
    removed_mask,
)
from spark_prune.core.vectors import l2_normalize
from tests.helpers import dup_heavy, near_copies, tricky_cluster, unit
from tests.reference import brute_force


@pytest.mark.parametrize("seed", range(4))
@pytest.mark.parametrize("block", [1, 3, 16, 1000])
def test_matches_brute_force(seed: int, block: int) -> None:
    x = tricky_cluster(seed, 60, 24)
    best, partner = max_similarity_to_earlier(x, block_size=block)
    ref_best, ref_partner = brute_force(x)
    np.testing.assert_array_equal(partner, ref_partner)
    np.testing.assert_array_equal(best, ref_best)  # bit for bit
    assert partner[15] == 3 and partner[30] == 3 and best[30] == best[15] >= np.float32(0.99999)


@pytest.mark.parametrize("block", [7, 32, 64])
def test_matches_brute_force_with_many_copies(block: int) -> None:
    """Rows with more than MAX_CANDIDATES_PER_ROW equal similarities (the float64 tile path),
    and whole blocks of them (the screen is skipped for the next tile)."""
    rng = np.random.default_rng(5)
    x = unit(rng, 120, 16)
    x[20:100] = x[19]
    x[100:120] = near_copies(rng, np.repeat(x[2:3], 20, axis=0), 1e-6)
    best, partner = max_similarity_to_earlier(x, block_size=block)
    ref_best, ref_partner = brute_force(x)
    np.testing.assert_array_equal(partner, ref_partner)
    np.testing.assert_array_equal(best, ref_best)
    assert (partner[20:100] == 19).all()


def test_chain_removes_rows_whose_partner_was_removed() -> None:
    # A ~ B ~ C but A !~ C: B goes because of A, C goes because of B (B itself removed)
    angles = np.array([0.0, 0.2, 0.4])
    x = np.stack([np.cos(angles), np.sin(angles)], axis=1).astype(np.float32)
    best, partner = max_similarity_to_earlier(x, block_size=1)
    eps = 1 - np.cos(0.25)  # between the neighbours' distance and A–C's
    assert removed_mask(best, eps).tolist() == [False, True, True]
    assert partner.tolist() == [-1, 0, 1]


def test_block_size_does_not_change_the_answer() -> None:
    rng = np.random.default_rng(9)
    x = unit(rng, 1500, 32)
    x[500:520] = x[100:120]
    x[700:900] = near_copies(rng, np.repeat(x[42:43], 200, axis=0), 1e-5)  # many near ties
    x[1400:] = x[1399]  # a run of identical rows: every row has many candidates
    one = max_similarity_to_earlier(x, block_size=1500)
    for block in (7, 128, 999, 4096):
        other = max_similarity_to_earlier(x, block_size=block)
        np.testing.assert_array_equal(other[1], one[1])
        np.testing.assert_array_equal(other[0], one[0])
    assert (one[1][1401:] == 1399).all()


def test_singletons_empty_and_bad_arguments() -> None:
    best, partner = max_similarity_to_earlier(unit(np.random.default_rng(0), 1, 4), 16)
    assert best.tolist() == [-np.inf] and partner.tolist() == [-1]
    assert not removed_mask(best, 1.99)[0]
    empty = max_similarity_to_earlier(np.zeros((0, 4), np.float32), 16)
    assert empty[0].shape == empty[1].shape == (0,)
    with pytest.raises(ValueError, match="block_size .* got 0"):
        max_similarity_to_earlier(unit(np.random.default_rng(0), 3, 4), 0)
    with pytest.raises(ValueError, match=r"eps .* got 2\.5"):
        removed_mask(best, 2.5)


def test_removal_rule_boundary_and_nan() -> None:
    eps = 0.07
    sims = np.array([-np.inf, np.nan, 1 - eps, np.nextafter(1 - eps, 2), 1.0])
    assert removed_mask(sims, eps).tolist() == [False, False, False, True, True]


def test_dedup_cluster_answers_in_input_order() -> None:
    x = tricky_cluster(3, 40, 8)
    ids = np.arange(40)[::-1].copy()
    dist = np.random.default_rng(1).uniform(size=40)
    max_sim, partner = dedup_cluster(ids, dist, x, "hard", 5)
    perm = order_within_cluster(dist, ids, "hard")
    ref_best, ref_partner = brute_force(l2_normalize(x[perm]))
    np.testing.assert_array_equal(max_sim[perm], ref_best)
    np.testing.assert_array_equal(partner[perm], np.where(ref_partner < 0, -1, perm[ref_partner]))


def test_rectangle_matches_the_triangle() -> None:
    x = dup_heavy(3, 200, 10)
    best, partner = max_similarity_to_earlier(x, 16)
    # rows 128.. against columns 0..127 only: the triangle's maximum where it lies there
    sim, arg = max_similarity_to_columns(x, 128, 16)
    full = (x[128:].astype(np.float64) @ x[:128].astype(np.float64).T).astype(np.float32)
    np.testing.assert_array_equal(sim, full.max(axis=1))
    np.testing.assert_array_equal(arg, full.argmax(axis=1))  # the first maximum
    inside = partner[128:] < 128
    np.testing.assert_array_equal(
        arg[inside & (sim == best[128:])], partner[128:][inside & (sim == best[128:])]
    )
    empty = max_similarity_to_columns(x[:5], 0, 16)
    assert empty[0].tolist() == [-np.inf] * 5 and empty[1].tolist() == [-1] * 5
