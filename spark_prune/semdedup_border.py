"""SemDeDup across cluster borders: ``semdedup.border_margin`` (m).

k-means can put two near-duplicates into different clusters, and SemDeDup compares rows only
inside a cluster, so such a pair is missed. With m > 0 a row whose second-nearest centroid is
within m of its nearest (``d2 − d1 < m``, cosine distances) also takes part, as a **guest**, in
that second cluster. The rule, precisely:

* A cluster's **context** is its own rows plus its guests. Every row sits in a context's order
  by its **own** sort key, the same one that orders it at home: its distance to its own
  (nearest) centroid for ``hard``/``easy``, its seeded id hash for ``random``, its ``keep_by``
  value; ties by id. So all contexts agree on one total order of the rows, and of two rows the
  earlier one is never removed because of the later one (two copies never remove each other).
* Inside a context the exact rule runs as usual: every row against every earlier row of the
  context (guests included, both ways: a guest is compared with the rows before it, and the
  rows after it with the guest).
* A row's ``max_sim`` is the larger of its values in its home context and (if a guest) in its
  guest context; its partner comes from the context that gave it (ties: home).
  ``semdedup_cluster_id`` and ``semdedup_dist`` stay those of the home cluster.

m = 0 makes no guests: the decisions are exactly those without the option. Stored ``max_sim``
and partner are final, so ``rethreshold`` applies any eps as before. The cost is the extra
pairs: each guest adds one comparison per row of its host context.
"""

from __future__ import annotations

import pandas as pd
from pyspark.sql import DataFrame
from pyspark.sql import functions as F

GUEST_COL = "_semdedup_guest"
SECOND_CLUSTER = "_semdedup_second_cluster"
SECOND_DIST = "_semdedup_second_dist"
SECOND_COLS = (SECOND_CLUSTER, SECOND_DIST)


def with_guests(assigned: DataFrame, margin: float, cluster_col: str, dist_col: str) -> DataFrame:
    """Home rows (``GUEST_COL`` false) plus one guest row per border row: the same row with
    ``cluster_col`` set to its second-nearest cluster. ``dist_col`` keeps the home distance:
    it is the row's sort key in every context."""
    home = assigned.withColumn(GUEST_COL, F.lit(False))
    border = (F.col(SECOND_CLUSTER) >= 0) & (F.col(SECOND_DIST) - F.col(dist_col) < F.lit(margin))
    guests = (
        assigned.filter(border)
        .withColumn(cluster_col, F.col(SECOND_CLUSTER))
        .withColumn(GUEST_COL, F.lit(True))
    )
    return home.unionByName(guests).drop(*SECOND_COLS)


def combine_contexts(
    result: DataFrame, id_col: str, max_sim_col: str, partner_col: str
) -> DataFrame:
    """One row per id: the home row, with ``max_sim`` / partner taken from the guest context
    where that is strictly larger (null ``max_sim``: no earlier row in that context)."""
    home = result.filter(~F.col(GUEST_COL)).drop(GUEST_COL)
    guest = result.filter(GUEST_COL).select(
        id_col, F.col(max_sim_col).alias("_g_sim"), F.col(partner_col).alias("_g_partner")
    )
    joined = home.join(guest, id_col, "left")
    better = F.col("_g_sim").isNotNull() & (
        F.col(max_sim_col).isNull() | (F.col("_g_sim") > F.col(max_sim_col))
    )
    columns = [
        F.when(better, F.col("_g_sim")).otherwise(F.col(max_sim_col)).alias(max_sim_col)
        if c == max_sim_col
        else F.when(better, F.col("_g_partner")).otherwise(F.col(partner_col)).alias(partner_col)
        if c == partner_col
        else F.col(c)
        for c in home.columns
    ]
    return joined.select(*columns)


def context_stats(per_context: DataFrame, cluster_col: str) -> dict[str, int]:
    """Guests and the similarity pairs the contexts cost (k rows to the driver)."""
    table = pd.DataFrame(
        per_context.groupBy(cluster_col)
        .agg(F.count(F.lit(1)).alias("n"), F.sum(F.col(GUEST_COL).cast("long")).alias("g"))
        .toPandas()
    )
    n, g = table["n"].astype("int64"), table["g"].fillna(0).astype("int64")
    return {
        "guests": int(g.sum()),
        "pairs_with_guests": int((n * (n - 1) // 2).sum()),
        "pairs_without_guests": int(((n - g) * (n - g - 1) // 2).sum()),
    }
