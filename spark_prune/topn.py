"""The first N rows of a global order, found without sorting all rows in one partition.

A threshold search over the composite sort key (primary columns, then the unique id): it finds
the key tuple T of the N-th row, and the kept rows are exactly the rows whose key is at or
before T, so the result equals ``row_number() over (order by key) <= N`` for any partitioning.

Each round draws a seeded sample of the rows still inside the bracket (at most
``SAMPLE_ROWS`` on average), sorts it on the driver, takes two pivots around the wanted rank
and counts, in one global aggregate, how many bracket rows lie at or before each pivot. The
bracket shrinks ~30× a round; once it holds at most ``BRACKET_ROWS`` rows their key tuples are
collected and the N-th one is picked exactly. Only samples, bracket-sized key tuples and a few
counts reach the driver; the per-row predicate is a comparison with literals (no join).
"""

from __future__ import annotations

import logging
import math
from collections.abc import Sequence
from dataclasses import dataclass
from functools import cmp_to_key
from typing import Any

from pyspark.sql import Column, DataFrame
from pyspark.sql import functions as F
from pyspark.sql import types as T

log = logging.getLogger(__name__)

SAMPLE_ROWS = 20_000  # expected sample size per round (driver-side sort)
BRACKET_ROWS = 200_000  # collect the bracket's key tuples once it is at most this big
PIVOT_SIGMAS = 5.0  # pivot margin in binomial standard deviations of the sample rank
MAX_ROUNDS = 64


@dataclass(frozen=True)
class KeyPart:
    """One sort column: its name, direction and Spark type (for typed literals)."""

    column: str
    ascending: bool
    dtype: T.DataType


def key_parts(df: DataFrame, spec: Sequence[tuple[str, bool]]) -> list[KeyPart]:
    """``(column, ascending)`` pairs of ``df`` as key parts; the last must be a unique id."""
    return [KeyPart(name, asc, df.schema[name].dataType) for name, asc in spec]


def _lit(value: Any, part: KeyPart) -> Column:
    return F.lit(value).cast(part.dtype)


def at_or_before(parts: Sequence[KeyPart], values: Sequence[Any]) -> Column:
    """Spark predicate: the row's key is at or before the tuple ``values`` in the order.

    Uses Spark's own comparison semantics (NaN largest and equal to NaN, -0.0 == 0.0), which
    are the semantics of its sort, so the predicate agrees with ``orderBy`` exactly.
    """
    result: Column = F.lit(True)
    for part, value in reversed(list(zip(parts, values, strict=True))):
        col, lit = F.col(part.column), _lit(value, part)
        before = col < lit if part.ascending else col > lit
        result = before | ((col == lit) & result)
    return result


def _is_nan(value: Any) -> bool:
    return isinstance(value, float) and math.isnan(value)


def _compare_values(a: Any, b: Any) -> int:
    """Spark's ordering of two non-null scalars: NaN above everything, -0.0 == 0.0."""
    a_nan, b_nan = _is_nan(a), _is_nan(b)
    if a_nan or b_nan:
        return int(a_nan) - int(b_nan)
    return (a > b) - (a < b)


def sort_tuples(rows: list[tuple], parts: Sequence[KeyPart]) -> list[tuple]:
    """Key tuples in the Spark order given by ``parts`` (driver side, bracket-sized lists)."""

    def compare(x: tuple, y: tuple) -> int:
        for part, a, b in zip(parts, x, y, strict=True):
            c = _compare_values(a, b)
            if c:
                return c if part.ascending else -c
        return 0

    return sorted(rows, key=cmp_to_key(compare))


@dataclass
class _Bracket:
    """Rows strictly after ``low`` and at or before ``high`` (None: unbounded)."""

    low: tuple | None
    high: tuple | None
    size: int  # rows inside the bracket
    rank: int  # 1-based rank of the wanted row inside the bracket

    def rows(self, df: DataFrame, parts: Sequence[KeyPart]) -> DataFrame:
        if self.low is not None:
            df = df.filter(~at_or_before(parts, self.low))
        if self.high is not None:
            df = df.filter(at_or_before(parts, self.high))
        return df


def nth_key(
    df: DataFrame,
    spec: Sequence[tuple[str, bool]],
    n: int,
    total: int,
    seed: int = 0,
    sample_rows: int = SAMPLE_ROWS,
    bracket_rows: int = BRACKET_ROWS,
) -> tuple | None:
    """The key tuple of the ``n``-th row (1-based) of ``df`` in the order ``spec``.

    ``total`` is ``df``'s row count; key columns must be non-null and the last one unique.
    None when ``n <= 0`` (nothing is at or before it); for ``n >= total`` the last row's key.
    """
    if n <= 0 or total <= 0:
        return None
    bracket_rows = max(bracket_rows, sample_rows)  # a narrowing round always samples
    parts = key_parts(df, spec)
    keys = df.select(*[p.column for p in parts])
    bracket = _Bracket(None, None, total, min(n, total))
    for round_no in range(MAX_ROUNDS):
        inside = bracket.rows(keys, parts)
        if bracket.size <= bracket_rows:
            found = sort_tuples([tuple(r) for r in inside.collect()], parts)
            if len(found) != bracket.size:
                raise RuntimeError(
                    f"top-N search: bracket should hold {bracket.size} rows, found {len(found)} "
                    "(is the input deterministic?)"
                )
            return found[bracket.rank - 1]
        bracket = _narrow(inside, parts, bracket, seed + round_no, sample_rows)
        log.debug("top-N search round %d: bracket of %d rows", round_no, bracket.size)
    raise RuntimeError("top-N search did not converge")  # pragma: no cover


def _narrow(
    inside: DataFrame, parts: Sequence[KeyPart], bracket: _Bracket, seed: int, sample_rows: int
) -> _Bracket:
    """One round: sample pivots around the wanted rank, count the rows at or before each."""
    fraction = min(1.0, sample_rows / bracket.size)
    sample = sort_tuples([tuple(r) for r in inside.sample(False, fraction, seed).collect()], parts)
    if not sample:
        return bracket  # an unlucky empty sample: draw again with the next seed
    s = len(sample)
    p = bracket.rank / bracket.size
    margin = PIVOT_SIGMAS * math.sqrt(s * p * (1 - p)) + 1
    lo_pos, hi_pos = int(p * s - margin), int(math.ceil(p * s + margin))
    low = sample[lo_pos] if lo_pos >= 0 else None
    high = sample[hi_pos] if hi_pos < s else None
    pivots = [pivot for pivot in (low, high) if pivot is not None]
    counts = _count_at_or_before(inside, parts, pivots) if pivots else []
    below_low = counts.pop(0) if low is not None else 0
    upto_high = counts.pop(0) if high is not None else bracket.size
    if bracket.rank <= below_low:  # wanted row is at or before the low pivot
        return _Bracket(bracket.low, low, below_low, bracket.rank)
    if bracket.rank > upto_high:  # after the high pivot
        return _Bracket(high, bracket.high, bracket.size - upto_high, bracket.rank - upto_high)
    return _Bracket(
        low if low is not None else bracket.low,
        high if high is not None else bracket.high,
        upto_high - below_low,
        bracket.rank - below_low,
    )


def _count_at_or_before(df: DataFrame, parts: Sequence[KeyPart], pivots: list[tuple]) -> list[int]:
    """For each pivot, how many rows of ``df`` are at or before it (one global aggregate)."""
    checks = [F.count_if(at_or_before(parts, pv)).alias(f"c{i}") for i, pv in enumerate(pivots)]
    row = df.agg(*checks).first()
    assert row is not None  # a global aggregate always returns one row
    return [int(c) for c in row]


def top_n_flag(
    df: DataFrame,
    spec: Sequence[tuple[str, bool]],
    n: int,
    total: int,
    seed: int = 0,
) -> Column:
    """A boolean column: the row is among the first ``n`` of ``df`` in the order ``spec``.

    Equals ``row_number() over (order by spec) <= n`` on ``df`` (``total`` rows); evaluate it
    on ``df`` or on any frame holding the same key columns.
    """
    if n <= 0:
        return F.lit(False)
    if n >= total:
        return F.lit(True)
    key = nth_key(df, spec, n, total, seed)
    assert key is not None
    return at_or_before(key_parts(df, spec), key)
