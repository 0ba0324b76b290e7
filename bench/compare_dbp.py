"""Before/after on a shared machine: the Spark DBP pipeline of two code versions, alternating.

Each run is a fresh process (``bench_dbp.py --spark-only``) importing ``spark_prune`` from one
of two source trees (e.g. a worktree of main and this branch), on the same Parquet input;
runs alternate A, B, A, B, ... so that load from other jobs hits both alike. Prints every
run's stage timings and the median per stage of each version.

    .venv/bin/python bench/compare_dbp.py --base /path/to/main/tree --rows 200000 --repeats 2
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
from pathlib import Path

from bench_dbp import spark_stage_groups  # bench/ is on sys.path when a script here runs

from spark_prune.demo.synthetic import write_parquet_embeddings

HERE = Path(__file__).resolve().parent


def one_run(tree: Path, data: Path, out: Path, args: argparse.Namespace) -> dict[str, float]:
    env = {**os.environ, "PYTHONPATH": str(tree), "PYSPARK_PYTHON": sys.executable}
    command = [
        sys.executable,
        str(HERE / "bench_dbp.py"),
        "--spark-only",
        str(data),
        "--workdir",
        str(out),
        "--rows",
        str(args.rows),
        "--k",
        str(args.k),
        "--iterations",
        str(args.iterations),
        "--strategy",
        args.strategy,
    ]
    done = subprocess.run(command, env=env, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise RuntimeError(f"run with {tree} failed:\n{done.stderr[-3000:]}")
    timings = json.loads(done.stdout.strip().splitlines()[-1])["timings"]
    return {**timings, **{f"[{k}]": v for k, v in spark_stage_groups(timings).items()}}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--base", required=True, help="source tree of the baseline version")
    parser.add_argument("--new", default=str(HERE.parent), help="source tree of the new version")
    parser.add_argument("--rows", type=int, default=200_000)
    parser.add_argument("--dim", type=int, default=512)
    parser.add_argument("--k", type=int, default=500)
    parser.add_argument("--iterations", type=int, default=20)
    parser.add_argument("--strategy", default="dbp")
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--workdir", default="bench/out_compare")
    args = parser.parse_args()

    work = Path(args.workdir)
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True)
    data = write_parquet_embeddings(work / "input", args.rows, args.dim, k=400, seed=7)
    trees = {"base": Path(args.base).resolve(), "new": Path(args.new).resolve()}
    results: dict[str, list[dict[str, float]]] = {name: [] for name in trees}
    for repeat in range(args.repeats):
        for name, tree in trees.items():
            timings = one_run(tree, data, work / f"{name}{repeat}", args)
            results[name].append(timings)
            print(name, repeat, json.dumps(timings), flush=True)
    stages = sorted({s for runs in results.values() for t in runs for s in t})
    print(f"\n{args.rows:,} rows x {args.dim}, k={args.k}, strategy {args.strategy}; medians")
    print(f"{'stage':<22}{'base s':>9}{'new s':>9}{'new/base':>10}")
    for stage in stages:
        base, new = (statistics.median(t.get(stage, 0.0) for t in results[n]) for n in trees)
        print(f"{stage:<22}{base:>9.1f}{new:>9.1f}{new / max(base, 1e-9):>10.2f}")


if __name__ == "__main__":
    main()
