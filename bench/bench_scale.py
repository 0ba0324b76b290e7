"""Benchmark: SemDeDup at scale on local Spark, two comparisons measured in one run each.

``kmeans``: SemDeDup with ``kmeans.method: driver`` vs ``distributed`` on the same planted-
duplicate data (``bench_semdedup.make_rows``): seconds (fit and whole stage), the spherical
objective (mean cosine of every row to its assigned centroid), rows removed, recall and
precision of the planted copies.

``split``: one big cluster (k = 1) without and with ``semdedup.split_rows``: seconds, the
speedup, and whether the decisions (max_sim and partner of every row) are identical.

    .venv/bin/python bench/bench_scale.py kmeans --rows 1000000 --k 5000
    .venv/bin/python bench/bench_scale.py split --rows 200000 --split-rows 50000
"""

from __future__ import annotations

import argparse
import json
import shutil
import time
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
from bench_semdedup import make_rows, quality, spark_run, write_parquet

from spark_prune.config import SemDedupConfig, SemDedupKMeansConfig


def run_once(data: str, cfg: SemDedupConfig, args: argparse.Namespace) -> dict[str, Any]:
    conf = {"spark.driver.maxResultSize": args.max_result_size}
    run = spark_run(data, cfg, args.dim, args.rows, args.driver_memory, True, conf)
    decisions: pa.Table = run.pop("decisions").sort_by("id")
    info = run["info"]
    return {
        "seconds": round(run["total"], 1),
        "seconds_fit": info["seconds_fit"],
        "kmeans": info["kmeans"],
        "split_clusters": info.get("split_clusters"),
        "largest_cluster_rows": info["largest_cluster_rows"],
        "mean_cosine_to_centroid": float(1 - np.mean(decisions.column("semdedup_dist"))),
        "removed_ids": run["removed"],
        "decisions": decisions,
        "peak_rss_mib": {k: round(v / 2**20) for k, v in run["peak"].items()},
    }


def kmeans_compare(args: argparse.Namespace, data: str, truth: Any) -> dict[str, Any]:
    out: dict[str, Any] = {}
    removed = {}
    for method in ("driver", "distributed"):
        km = SemDedupKMeansConfig(k=args.k, iterations=args.iterations, method=method)  # type: ignore[arg-type]
        cfg = SemDedupConfig(enabled=True, eps=args.eps, block_size=args.block_size, kmeans=km)
        run = run_once(data, cfg, args)
        removed[method] = set(run["removed_ids"].tolist())
        recall, precision = quality(run.pop("removed_ids"), truth)
        run.pop("decisions")
        out[method] = {**run, "removed": len(removed[method]), "recall": recall,
                       "precision": precision}  # fmt: skip
        print(method, json.dumps(out[method], default=str))
    both = removed["driver"] & removed["distributed"]
    out["removed_by_both"] = len(both)
    out["removed_by_one_only"] = len(removed["driver"] ^ removed["distributed"])
    return out


def split_compare(args: argparse.Namespace, data: str, truth: Any) -> dict[str, Any]:
    out: dict[str, Any] = {}
    tables = {}
    for split_rows in (0, args.split_rows):
        cfg = SemDedupConfig(
            enabled=True,
            eps=args.eps,
            block_size=args.block_size,
            split_rows=split_rows,
            kmeans=SemDedupKMeansConfig(k=1, iterations=1),
        )
        run = run_once(data, cfg, args)
        recall, precision = quality(run.pop("removed_ids"), truth)
        tables[split_rows] = run.pop("decisions")
        out[f"split_rows={split_rows}"] = {**run, "recall": recall, "precision": precision}
        print(split_rows, json.dumps(out[f"split_rows={split_rows}"], default=str))
    whole, split = tables[0], tables[args.split_rows]
    out["identical"] = whole.equals(split)
    out["speedup"] = round(
        out["split_rows=0"]["seconds"] / out[f"split_rows={args.split_rows}"]["seconds"], 2
    )
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("mode", choices=["kmeans", "split"])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--dim", type=int, default=512)
    parser.add_argument("--k", type=int, default=5000)
    parser.add_argument("--iterations", type=int, default=20)
    parser.add_argument("--centres", type=int, default=2000)
    parser.add_argument("--eps", type=float, default=0.07)
    parser.add_argument("--dup-fraction", type=float, default=0.1)
    parser.add_argument("--block-size", type=int, default=1024)
    parser.add_argument("--split-rows", type=int, default=50_000)
    parser.add_argument("--driver-memory", default="6g")
    parser.add_argument(
        "--max-result-size",
        default="1g",
        help="spark.driver.maxResultSize: the driver method's sample must fit (k = 5,000 at "
        "1M x 512 samples every row, 1.9 GiB: use 4g and --driver-memory 10g)",
    )
    parser.add_argument("--workdir", default="bench/out/scale")
    parser.add_argument("--json", help="write the figures here")
    args = parser.parse_args()
    work = Path(args.workdir)
    shutil.rmtree(work, ignore_errors=True)
    centres = 1 if args.mode == "split" else args.centres
    ids, x, truth = make_rows(args.rows, args.dim, args.dup_fraction, centres, seed=5)
    write_parquet(work / "input", ids, x)
    del ids, x
    start = time.perf_counter()
    compare = kmeans_compare if args.mode == "kmeans" else split_compare
    figures = compare(args, str(work / "input"), truth)
    figures["args"] = vars(args)
    figures["wall_seconds"] = round(time.perf_counter() - start, 1)
    print(json.dumps({k: v for k, v in figures.items() if k != "args"}, default=str, indent=1))
    if args.json:
        Path(args.json).write_text(json.dumps(figures, indent=1, default=str))


if __name__ == "__main__":
    main()
