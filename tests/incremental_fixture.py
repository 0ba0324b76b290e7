"""One small input table with four Delta versions and the runs over it that the frozen-centroid
and incremental tests compare (built lazily, once per session):

* v0: 240 rows in 6 blobs, with near duplicates (SemDeDup removes some) -> run ``a`` (fits);
* v1: v0 plus near duplicates of blob rows and a far-off blob (drift), no change data feed;
* v2: ``delta.enableChangeDataFeed`` switched on (no row changes);
* v3: v2 minus a SemDeDup partner and every row of one SemDeDup cluster (it becomes empty).
"""

from __future__ import annotations

from functools import cached_property
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from delta.tables import DeltaTable
from pyspark.sql import SparkSession
from pyspark.sql import functions as F

from spark_prune.core.vectors import l2_normalize
from spark_prune.pipeline import RunResult, run
from tests.helpers import SCHEMA, embedding_rows, make_config, write_input

DIM, BLOBS = 8, 6
SECTIONS: dict[str, dict[str, Any]] = {
    "semdedup": {"enabled": True, "eps": 0.05, "kmeans": {"k": BLOBS, "iterations": 10}},
    "dbp": {"keep_fraction": 0.5, "kmeans": {"k": BLOBS, "iterations": 10}},
}


class Scenario:
    def __init__(self, spark: SparkSession, root: Path) -> None:
        self.spark, self.root = spark, root
        ids, x = embedding_rows(240, DIM, BLOBS, seed=21)
        rng = np.random.default_rng(3)
        pick = rng.choice(len(ids), 40, replace=False)  # near duplicates inside v0
        dups = l2_normalize(x[pick] + 0.01 * rng.standard_normal((40, DIM)).astype(np.float32))
        self.ids0 = np.concatenate([ids, np.arange(1000, 1040)])
        self.x0 = np.concatenate([x, dups])
        self.input = write_input(spark, root / "in", self.ids0, self.x0, partitions=3)

    def append_v1(self) -> None:
        rng = np.random.default_rng(4)
        pick = rng.choice(len(self.ids0), 12, replace=False)
        near = l2_normalize(self.x0[pick] + 0.01 * rng.standard_normal((12, DIM)).astype("f4"))
        far = l2_normalize(rng.standard_normal(DIM).astype(np.float32) + 0.2 * rng.standard_normal(
            (8, DIM)).astype(np.float32))  # fmt: skip
        x = np.concatenate([near, far])
        rows = [(int(2000 + i), [float(v) for v in row], f"row {2000 + i}") for i, row in
                enumerate(x)]  # fmt: skip
        self.spark.createDataFrame(rows, SCHEMA).write.format("delta").mode("append").save(
            self.input
        )

    def enable_feed_v2(self) -> None:
        self.spark.sql(f"ALTER TABLE delta.`{self.input}` SET TBLPROPERTIES "
                       f"(delta.enableChangeDataFeed = true)")  # fmt: skip

    def delete_v3(self, full_v1: pd.DataFrame) -> list[int]:
        """Delete one partner of a removed row and the whole smallest SemDeDup cluster."""
        sizes = full_v1.groupby("semdedup_cluster_id").size()
        empty = int(sizes.idxmin())
        gone = set(full_v1.loc[full_v1["semdedup_cluster_id"] == empty, "id"].astype(int))
        partners = full_v1.loc[
            full_v1["semdedup_partner"].notna() & (full_v1["semdedup_cluster_id"] != empty),
            "semdedup_partner",
        ]
        self.partner = int(partners.iloc[0])
        self.empty_cluster = empty
        gone.add(self.partner)
        DeltaTable.forPath(self.spark, self.input).delete(F.col("id").isin(sorted(gone)))
        return sorted(gone)

    def run(self, name: str, version: int, **extra: dict[str, Any]) -> RunResult:
        sections = {**SECTIONS, "input": {"version": version}}
        for key, values in extra.items():
            sections[key] = {**sections.get(key, {}), **values}
        return run(self.spark, make_config(self.input, str(self.root / name), **sections))

    def frozen(self, name: str, version: int, source: str) -> RunResult:
        """A full run with both k-means frozen to ``source``'s centroids."""
        return self.run(name, version, dbp={"kmeans": {"k": BLOBS, "iterations": 10,
                                                       "centroids_from": source}},
                        semdedup={"kmeans": {"k": BLOBS, "iterations": 10,
                                             "centroids_from": source}})  # fmt: skip

    @cached_property
    def a(self) -> RunResult:
        return self.run("a", 0)

    @cached_property
    def full_v1(self) -> RunResult:
        self.a  # noqa: B018 (v0 is read before the append)
        self.append_v1()
        return self.frozen("full_v1", 1, self.path(self.a))

    @cached_property
    def b(self) -> RunResult:
        """Incremental from a to v1 (appends; anti-join: no change data feed yet)."""
        self.full_v1  # noqa: B018
        return self.run("b", 1, incremental={"previous_run": self.path(self.a),
                                             "refit_above": 0.1})  # fmt: skip

    @cached_property
    def full_v3(self) -> RunResult:
        self.b  # noqa: B018
        self.enable_feed_v2()
        self.deleted = self.delete_v3(self.table(self.full_v1, "decisions"))
        return self.frozen("full_v3", 3, self.path(self.a))

    @cached_property
    def c(self) -> RunResult:
        """Incremental from a to v3 (appends and deletes; the feed misses v1: anti-join)."""
        self.full_v3  # noqa: B018
        return self.run("c", 3, incremental={"previous_run": self.path(self.a)})

    @cached_property
    def d(self) -> RunResult:
        """Incremental from b to v3 (deletes, change data feed), written over b itself."""
        self.c  # noqa: B018
        self.b_manifest = dict(self.b.manifest)
        return run(self.spark, make_config(self.input, self.path(self.b), **{
            **SECTIONS, "input": {"version": 3},
            "incremental": {"previous_run": self.path(self.b)}}))  # fmt: skip

    def path(self, result: RunResult) -> str:
        return str(result.output.cfg.path)

    def table(self, result: RunResult, name: str, version: int | None = None) -> pd.DataFrame:
        info = result.manifest["outputs"][name]
        reader = self.spark.read.format("delta")
        if version is not None:
            reader = reader.option("versionAsOf", version)
        frame = reader.load(info["location"]).toPandas()
        order = "id" if "id" in frame.columns else "cluster_id"
        return frame.sort_values(order).reset_index(drop=True)
