"""Benchmark: how DBP's and SemDeDup's cost grows with the row count (issue 10, item 5).

For each size, in fresh processes on local Spark: the DBP pipeline (``bench_dbp.py
--spark-only``: k = 500, keep 50%, three Delta tables written) on synthetic rows, then the
SemDeDup stage (``bench_semdedup.py --skip-numpy``: planted copies, k = rows / 10,000). Prints
seconds and rows/s per stage at every size, each size's rows/s relative to the smallest, and
the driver's peak RSS (Python and JVM, polled every 0.2 s). Each size's input is deleted after
its runs, so the disk holds one size at a time.

    .venv/bin/python bench/bench_growth.py --sizes 1000000,2000000,4000000
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from bench_dbp import spark_stage_groups  # bench/ is on sys.path when a script here runs

from spark_prune.demo.synthetic import write_parquet_embeddings

HERE = Path(__file__).resolve().parent
MiB = 2**20


def _python(script: str, *args: str) -> str:
    env = {**os.environ, "PYSPARK_PYTHON": sys.executable}
    command = [sys.executable, str(HERE / script), *args]
    done = subprocess.run(command, env=env, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise RuntimeError(f"{script} {' '.join(args)} failed:\n{done.stderr[-3000:]}")
    return done.stdout


def dbp_at(rows: int, args: argparse.Namespace, work: Path) -> dict[str, Any]:
    data = work / "dbp_input"
    shutil.rmtree(work, ignore_errors=True)
    write_parquet_embeddings(data, rows, args.dim, k=400, seed=7)
    out = _python("bench_dbp.py", "--spark-only", str(data), "--workdir", str(work / "out"),
                  "--rows", str(rows), "--k", str(args.k),
                  "--iterations", str(args.iterations))  # fmt: skip
    figures = json.loads(out.strip().splitlines()[-1])
    shutil.rmtree(work, ignore_errors=True)
    stages = spark_stage_groups(figures["timings"])
    return {"stages": stages, "driver_python_mib": figures["driver_python"] / MiB,
            "jvm_mib": figures["jvm"] / MiB}  # fmt: skip


def semdedup_at(rows: int, args: argparse.Namespace, work: Path) -> dict[str, Any]:
    figures_file = work.parent / f"semdedup_{rows}.json"
    _python("bench_semdedup.py", "--rows", str(rows), "--dim", str(args.dim), "--skip-numpy",
            "--workdir", str(work), "--json", str(figures_file))  # fmt: skip
    shutil.rmtree(work, ignore_errors=True)
    spark = json.loads(figures_file.read_text())["spark"]
    info = spark["info"]
    return {"stages": {"fit": info["seconds_fit"], "total": spark["seconds"]},
            "recall": spark["recall"], "precision": spark["precision"],
            "driver_python_mib": spark["peak"]["driver_python"] / MiB,
            "jvm_mib": spark["peak"]["jvm"] / MiB, "k": info["k"]}  # fmt: skip


def show(name: str, sizes: list[int], runs: list[dict[str, Any]]) -> None:
    print(f"\n{name}: rows/s per stage (relative to {sizes[0]:,} rows)")
    print(f"{'stage':<15}" + "".join(f"{n:>24,}" for n in sizes))
    for stage in runs[0]["stages"]:
        base = sizes[0] / max(runs[0]["stages"][stage], 1e-9)
        cells = []
        for rows, run in zip(sizes, runs, strict=True):
            seconds = run["stages"][stage]
            rate = rows / max(seconds, 1e-9)
            cells.append(f"{seconds:7.1f} s {rate:9,.0f} {rate / base:4.2f}")
        print(f"{stage:<15}" + "".join(f"{c:>24}" for c in cells))
    for key in ("driver_python_mib", "jvm_mib"):
        print(f"{key:<15}" + "".join(f"{run[key]:>22,.0f} M" for run in runs))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", default="1000000,2000000,4000000")
    parser.add_argument("--dim", type=int, default=512)
    parser.add_argument("--k", type=int, default=500, help="DBP k")
    parser.add_argument("--iterations", type=int, default=20)
    parser.add_argument("--only", choices=["dbp", "semdedup"])
    parser.add_argument("--workdir", default="bench/out/growth")
    parser.add_argument("--json", help="write the figures here")
    args = parser.parse_args()
    sizes = [int(s) for s in args.sizes.split(",")]
    work = Path(args.workdir)
    figures: dict[str, Any] = {"args": vars(args), "load_average": {}}
    for name, measure in (("dbp", dbp_at), ("semdedup", semdedup_at)):
        if args.only and args.only != name:
            continue
        runs = []
        for rows in sizes:
            start = time.perf_counter()
            runs.append(measure(rows, args, work / name))
            figures["load_average"][f"{name}_{rows}"] = os.getloadavg()
            print(f"{name} at {rows:,} rows: {time.perf_counter() - start:.0f} s", flush=True)
        figures[name] = dict(zip(map(str, sizes), runs, strict=True))
        show(name, sizes, runs)
    if args.json:
        Path(args.json).write_text(json.dumps(figures, indent=1))


if __name__ == "__main__":
    main()
