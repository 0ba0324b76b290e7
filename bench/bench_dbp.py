"""Benchmark: the Spark DBP pipeline vs a single-process numpy/faiss run of the same computation.

Makes a synthetic table (default 1,000,000 rows x 512-d, clusters of very different spreads),
runs the pipeline (k = 500) on local Spark, then the same stages in one Python process on the
same Parquet files, and prints seconds and rows/s per stage, their ratio, and peak memory of
the driver (Python and JVM) at two table sizes to show it does not grow with the row count.

    .venv/bin/python bench/bench_dbp.py                 # the full run (~15 minutes on 2 cores)
    .venv/bin/python bench/bench_dbp.py --rows 100000   # a quick look
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import shutil
import time
from pathlib import Path

import numpy as np
import psutil
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.dataset as ds
import pyarrow.parquet as pq
from peak_memory import PeakMemory  # bench/ is on sys.path when a script here runs

from spark_prune import dbp as dbp_stage
from spark_prune.config import DBPConfig, KMeansConfig
from spark_prune.config_loader import config_from_dict
from spark_prune.core.assign import nearest_centroids
from spark_prune.core.quotas import (
    cluster_probabilities,
    complexity,
    inter_cluster_distance,
    lower_bounds,
    solve_quotas,
)
from spark_prune.core.vectors import arrow_list_to_matrix
from spark_prune.demo.synthetic import write_parquet_embeddings
from spark_prune.kmeans import fit_spherical_kmeans, sample_size_for


def single_process(data: Path, out: Path, cfg: DBPConfig, dim: int) -> dict[str, float]:
    """The same computation in one process: read, validate, sample, fit, assign, select, write."""
    times: dict[str, float] = {}
    t = time.perf_counter()
    table = ds.dataset(str(data), format="parquet").to_table()
    times["read"] = time.perf_counter() - t

    t = time.perf_counter()
    ids = table.column("id").to_numpy()
    x = arrow_list_to_matrix(table.column("image_emb"), dim)
    valid = np.isfinite(x).all(axis=1) & (np.abs(x).sum(axis=1) > 0)
    x, ids_valid = x[valid], ids[valid]
    times["validate"] = time.perf_counter() - t

    t = time.perf_counter()
    size = sample_size_for(cfg.kmeans, len(x))
    rng = np.random.default_rng(cfg.kmeans.seed)
    sample = x[np.sort(rng.choice(len(x), size=size, replace=False))]
    km = fit_spherical_kmeans(sample, cfg.kmeans)
    times["fit"] = time.perf_counter() - t

    t = time.perf_counter()
    x /= np.linalg.norm(x, axis=1, keepdims=True)
    cluster, dist = nearest_centroids(x, km.centroids)
    times["assign"] = time.perf_counter() - t

    t = time.perf_counter()
    k = km.centroids.shape[0]
    sizes_all = np.bincount(cluster, minlength=k)
    used = np.flatnonzero(sizes_all)
    sizes = sizes_all[used]
    d_intra = np.bincount(cluster, weights=dist, minlength=k)[used] / sizes
    d_inter = inter_cluster_distance(km.centroids[used], cfg.num_neighbors)
    p = cluster_probabilities(complexity(d_inter, d_intra), cfg.tau)
    target = dbp_stage.target_count(cfg, len(x))
    quotas = solve_quotas(target, p, sizes, lower_bounds(sizes, target, cfg.balance_ratio))
    times["stats"] = time.perf_counter() - t

    t = time.perf_counter()
    order = np.lexsort((ids_valid, -dist, cluster))  # by cluster, farthest first, ties by id
    starts = np.concatenate([[0], np.cumsum(sizes_all)[:-1]])
    rank = np.empty(len(order), dtype=np.int64)
    rank[order] = np.arange(len(order)) - np.repeat(starts, sizes_all)
    quota_of = np.zeros(k, dtype=np.int64)
    quota_of[used] = quotas
    kept = ids_valid[rank < quota_of[cluster]]
    times["select"] = time.perf_counter() - t

    t = time.perf_counter()
    mask = pc.is_in(table.column("id"), value_set=pa.array(kept))
    pq.write_table(table.filter(mask), out / "pruned.parquet")
    decisions = pa.table(
        {"id": ids_valid, "cluster_id": cluster, "dist": dist, "rank_in_cluster": rank}
    )
    pq.write_table(decisions, out / "decisions.parquet")
    times["write"] = time.perf_counter() - t
    return times


def timed_single_process(
    data: Path, out: Path, cfg: DBPConfig, dim: int
) -> tuple[dict[str, float], int]:
    with PeakMemory() as memory:
        start = time.perf_counter()
        times = single_process(data, out, cfg, dim)
        times["total"] = time.perf_counter() - start
    return times, memory.peak["driver_python"]


def spark_run(
    data: Path, out: Path, k: int, iterations: int, rows: int, strategy: str = "dbp"
) -> tuple[dict, PeakMemory]:
    from spark_prune.pipeline import run
    from spark_prune.session import get_spark

    spark = get_spark("bench_dbp", master="local[2]", conf={"spark.driver.memory": "6g"})
    cfg = config_from_dict(
        {
            "input": {"path": str(data), "format": "parquet", "embedding_dim": None},
            "output": {"path": str(out), "mode": "overwrite"},
            "dbp": {
                "strategy": strategy,
                "keep_fraction": 0.5,
                "kmeans": {"k": k, "iterations": iterations},
            },
        }
    )
    with PeakMemory() as memory:
        start = time.perf_counter()
        result = run(spark, cfg)
        total = time.perf_counter() - start
    timings = dict(result.manifest["timings_seconds"])
    timings["total"] = total
    assert result.counts["input"] == rows
    return timings, memory


DBP_STEPS = ("fit", "assign", "stats", "select")  # the rest of the stage: its checkpoint


def spark_stage_groups(t: dict[str, float]) -> dict[str, float]:
    """Spark's timings folded onto the single-process stage names."""
    return {
        "read+validate": t.get("read", 0) + t.get("validate", 0) + t.get("dbp.count", 0),
        "fit": t.get("dbp.fit", 0),
        "assign": t.get("dbp.assign", 0),
        "stats": t.get("dbp.stats", 0),
        "select+write": t.get("dbp.select", 0)
        + sum(v for n, v in t.items() if n.startswith("write")),
        "checkpoint": t.get("dbp", 0) - sum(t.get(f"dbp.{n}", 0) for n in DBP_STEPS),
        "total": t["total"],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument(
        "--small-rows",
        type=int,
        default=250_000,
        help="second Spark run size for the driver-memory check (0 = skip)",
    )
    parser.add_argument("--dim", type=int, default=512)
    parser.add_argument("--k", type=int, default=500)
    parser.add_argument("--iterations", type=int, default=20)
    parser.add_argument("--workdir", default="bench/out")
    parser.add_argument("--strategy", default="dbp", help="dbp.strategy of the Spark runs")
    parser.add_argument(
        "--spark-only",
        metavar="DATA",
        help="only run the Spark pipeline on this existing Parquet input and print its timings "
        "as JSON (bench/compare_dbp.py runs it with two code versions, alternating)",
    )
    args = parser.parse_args()
    if args.spark_only:
        timings, memory = spark_run(
            Path(args.spark_only),
            Path(args.workdir),
            args.k,
            args.iterations,
            args.rows,
            args.strategy,
        )
        print(json.dumps({"timings": timings, **memory.peak}))
        return

    work = Path(args.workdir)
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True)
    print(f"generating {args.rows:,} x {args.dim} synthetic rows ...", flush=True)
    data = write_parquet_embeddings(work / "input", args.rows, args.dim, k=400, seed=7)

    cfg = DBPConfig(keep_fraction=0.5, kmeans=KMeansConfig(k=args.k, iterations=args.iterations))
    print("single process (numpy + faiss), in a child process ...", flush=True)
    (work / "numpy").mkdir()
    with multiprocessing.get_context("spawn").Pool(1) as pool:
        numpy_times, numpy_peak = pool.apply(
            timed_single_process, (data, work / "numpy", cfg, args.dim)
        )

    small_memory = None
    if args.small_rows:  # first, so the larger run's peak shows any growth with row count
        small = write_parquet_embeddings(work / "small", args.small_rows, args.dim, k=400, seed=8)
        print(f"spark pipeline on {args.small_rows:,} rows ...", flush=True)
        _, small_memory = spark_run(
            small, work / "spark_small", args.k, args.iterations, args.small_rows
        )
    print(f"spark pipeline on {args.rows:,} rows ...", flush=True)
    spark_times, spark_memory = spark_run(data, work / "spark", args.k, args.iterations, args.rows)

    grouped = spark_stage_groups(spark_times)
    single = {
        "read+validate": numpy_times["read"] + numpy_times["validate"],
        "fit": numpy_times["fit"],
        "assign": numpy_times["assign"],
        "stats": numpy_times["stats"],
        "select+write": numpy_times["select"] + numpy_times["write"],
        "checkpoint": 0.0,  # the single process keeps no stage checkpoint
        "total": numpy_times["total"],
    }
    print(
        f"\n{args.rows:,} rows x {args.dim}-d, k={args.k}, {args.iterations} k-means iterations, "
        f"local[2] on {psutil.cpu_count()} cores"
    )
    print(f"{'stage':<15}{'spark s':>10}{'rows/s':>12}{'single s':>10}{'rows/s':>12}{'ratio':>8}")
    for stage, seconds in grouped.items():
        other = single[stage]
        print(
            f"{stage:<15}{seconds:>10.1f}{args.rows / max(seconds, 1e-9):>12,.0f}"
            f"{other:>10.1f}{args.rows / max(other, 1e-9):>12,.0f}"
            f"{(f'{seconds / other:.2f}' if other >= 0.05 else '-'):>8}"
        )
    mib = 1024 * 1024
    print(f"\npeak RSS, single process: {numpy_peak / mib:,.0f} MiB")
    for rows, memory in ((args.rows, spark_memory), (args.small_rows, small_memory)):
        if memory is not None:
            python, jvm = memory.peak["driver_python"] / mib, memory.peak["jvm"] / mib
            print(
                f"peak RSS, Spark driver at {rows:,} rows: python {python:,.0f} MiB, "
                f"JVM {jvm:,.0f} MiB"
            )
    print(json.dumps({"spark": spark_times, "single": numpy_times}))


if __name__ == "__main__":
    main()
