"""Benchmark: a weekly incremental run vs a full rerun after a 5% append and a 1% delete.

Makes a synthetic Delta table (change data feed on), runs a full run on it (week 1), appends 5%
new rows and deletes 1% of the rows (week 2), then runs both a full rerun (what the job did
before: both k-means fitted again, everything recomputed) and an incremental run from week 1.
Prints seconds per stage (the manifests' timings), rows assigned and SemDeDup rows computed.

    .venv/bin/python bench/bench_incremental.py --rows 100000 --dim 64
"""

from __future__ import annotations

import argparse
import json
import shutil
import time
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
from delta.tables import DeltaTable
from pyspark.sql import SparkSession
from pyspark.sql import functions as F

from spark_prune.config_loader import config_from_dict
from spark_prune.core.vectors import matrix_to_arrow_list
from spark_prune.demo.synthetic import clustered_embeddings, write_parquet_embeddings
from spark_prune.pipeline import RunResult, run
from spark_prune.session import get_spark

STAGES = ("read", "incremental.diff", "validate", "semdedup", "dbp.fit", "dbp.assign",
          "dbp.stats", "dbp.select", "dbp", "write.decisions", "write.clusters",
          "write.semdedup_clusters", "write.pruned")  # fmt: skip


def make_input(spark: SparkSession, work: Path, rows: int, dim: int, blobs: int) -> str:
    parquet = write_parquet_embeddings(work / "parquet", rows, dim, blobs, seed=7)
    path = str(work / "input")
    (
        spark.read.parquet(str(parquet))
        .write.format("delta")
        .option("delta.enableChangeDataFeed", "true")
        .save(path)
    )
    return path


def week_two(
    spark: SparkSession, work: Path, path: str, rows: int, dim: int, blobs: int
) -> dict[str, int]:
    """Append 5% new rows (ids after the old ones) and delete 1% (ids ending in 07 modulo 100)."""
    added = rows // 20
    ids, x = clustered_embeddings(added, dim, blobs, seed=7, first_id=rows, chunk_seed=999)
    table = pa.table({"id": pa.array(ids), "image_emb": matrix_to_arrow_list(x),
                      "caption": pa.array([f"synthetic row {i}" for i in ids])})  # fmt: skip
    (work / "append").mkdir(parents=True, exist_ok=True)
    pq.write_table(table, work / "append" / "part-0.parquet")
    new_rows = spark.read.parquet(str(work / "append"))
    new_rows.write.format("delta").mode("append").save(path)
    DeltaTable.forPath(spark, path).delete((F.col("id") % 100) == 7)
    return {"appended": added, "deleted": sum(1 for i in range(rows) if i % 100 == 7)}


def config(path: str, out: Path, args: argparse.Namespace, **extra: Any) -> Any:
    raw: dict[str, Any] = {
        "input": {"path": path},
        "output": {"path": str(out), "mode": "overwrite"},
        "semdedup": {"enabled": True, "eps": 0.05, "rows_per_cluster": args.rows_per_cluster,
                     "kmeans": {"k": args.semdedup_k, "iterations": 10}},
        "dbp": {"keep_fraction": 0.5, "kmeans": {"k": args.k, "iterations": 20}},
        **extra,
    }  # fmt: skip
    return config_from_dict(raw)


def timed_run(spark: SparkSession, cfg: Any) -> tuple[RunResult, float]:
    start = time.perf_counter()
    result = run(spark, cfg)
    return result, time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--dim", type=int, default=64)
    parser.add_argument("--blobs", type=int, default=50)
    parser.add_argument("--k", type=int, default=100, help="DBP k")
    parser.add_argument("--semdedup-k", type=int, default=200)
    parser.add_argument("--rows-per-cluster", type=int, default=1000)
    parser.add_argument("--work", default="/tmp/bench_incremental")
    parser.add_argument("--master", default="local[2]")
    args = parser.parse_args()
    work = Path(args.work)
    shutil.rmtree(work, ignore_errors=True)
    spark = get_spark("bench_incremental", master=args.master,
                      conf={"spark.ui.enabled": "false", "spark.driver.memory": "6g"})  # fmt: skip
    path = make_input(spark, work, args.rows, args.dim, args.blobs)
    _, week1_s = timed_run(spark, config(path, work / "week1", args))
    change = week_two(spark, work, path, args.rows, args.dim, args.blobs)
    full, full_s = timed_run(spark, config(path, work / "full", args))
    incr_cfg = config(path, work / "incremental", args,
                      incremental={"previous_run": str(work / "week1")})  # fmt: skip
    incr, incr_s = timed_run(spark, incr_cfg)
    facts = incr.manifest["incremental"]
    report = {
        "rows": args.rows, "dim": args.dim, "dbp_k": args.k, "semdedup_k": args.semdedup_k,
        **change, "week1_seconds": round(week1_s, 1),
        "full_rerun_seconds": round(full_s, 1), "incremental_seconds": round(incr_s, 1),
        "speedup": round(full_s / incr_s, 2),
        "diff_method": facts["method"], "added": facts["added"], "deleted": facts["deleted"],
        "input_rows_week2": incr.manifest["counts"]["input"],
        "semdedup_rows_computed_full": full.manifest["semdedup"]["rows"],
        "semdedup_incremental": incr.manifest["semdedup"].get("incremental"),
        "dbp_rows_assigned_full": full.manifest["dbp"]["rows_in"],
        "dbp_rows_assigned_incremental": facts.get("dbp_rows_assigned"),
        "drift": facts.get("drift"),
    }  # fmt: skip
    print(json.dumps(report, indent=2))
    print(f"{'stage':<26}{'full rerun s':>14}{'incremental s':>15}")
    for stage in STAGES:
        a = full.manifest["timings_seconds"].get(stage)
        b = incr.manifest["timings_seconds"].get(stage)
        if a is not None or b is not None:
            print(f"{stage:<26}{a if a is not None else '-':>14}{b if b is not None else '-':>15}")
    spark.stop()


if __name__ == "__main__":
    main()
