"""Sort keys as Spark columns: the seeded hash order and the keep orders (ties by id)."""

from __future__ import annotations

from pyspark.sql import Column
from pyspark.sql import functions as F


def hash_key(id_column: str, seed: int) -> Column:
    """A seeded 64-bit hash of the row id: a partition-independent random order."""
    return F.xxhash64(F.lit(seed), F.col(id_column).cast("string"))


def order_key(rule: str, id_col: str, seed: int) -> list:
    """Sort key for keeping: rows first in this order are kept first (ties by id)."""
    if rule == "hard":
        return [F.col("dist").desc(), F.col(id_col).asc()]
    if rule == "easy":
        return [F.col("dist").asc(), F.col(id_col).asc()]
    return [hash_key(id_col, seed).asc(), F.col(id_col).asc()]
