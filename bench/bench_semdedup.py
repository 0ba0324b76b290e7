"""Benchmark: the Spark SemDeDup stage vs a single-process numpy/faiss run, planted duplicates.

Rows are unit vectors around many centres, spread so that natural neighbours stay far below
the threshold (cosine < 0.9); ``--dup-fraction`` of the rows are noisy copies of other rows
(cosine ≈ 0.995 to their source, far above 1 − eps), so the ground truth is known. The same
Parquet files go through ``spark_prune.semdedup.semdedup`` on local Spark and through the same
computation in one Python process (seeded sample, faiss spherical k-means, assignment, the
blockwise rule per cluster). Prints seconds, rows/s, recall and precision of the planted
copies, the Spark / single-process ratio and peak memory (psutil).

``--border-margins 0,0.01,0.02`` instead runs the Spark stage once per ``semdedup.border_margin``
on the same data and prints recall, precision, seconds and the extra similarity pairs (guests).

``--big-cluster N`` instead forces N rows into one cluster (k = 1) and runs them through the
Spark stage (or ``--big-cluster-mode numpy``: the kernel alone), to show memory stays bounded.

    .venv/bin/python bench/bench_semdedup.py                      # 1,000,000 x 512
    .venv/bin/python bench/bench_semdedup.py --rows 100000        # a quick look
    .venv/bin/python bench/bench_semdedup.py --big-cluster 200000
    .venv/bin/python bench/bench_semdedup.py --rows 50000 --dim 64 --border-margins 0,0.01,0.03
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import platform
import resource
import shutil
import time
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np
import psutil
import pyarrow as pa
import pyarrow.parquet as pq
from peak_memory import PeakMemory  # bench/ is on sys.path when a script here runs

from spark_prune.config import SemDedupConfig, SemDedupKMeansConfig
from spark_prune.core.assign import nearest_centroids
from spark_prune.core.semdedup_kernel import max_similarity_to_earlier, removed_mask
from spark_prune.core.vectors import arrow_list_to_matrix, l2_normalize, matrix_to_arrow_list
from spark_prune.kmeans import fit_spherical_kmeans, sample_size_for
from spark_prune.semdedup import default_k

FILE_ROWS = 50_000
MiB = 2**20

# ---------------------------------------------------------------- data with a known answer


@dataclass
class Truth:
    """``root[id]``: the id of the row a planted copy was made from (itself for others)."""

    root: np.ndarray

    @property
    def planted(self) -> int:
        return int((self.root != np.arange(len(self.root))).sum())


def make_rows(
    rows: int, dim: int, dup_fraction: float, centres: int, seed: int
) -> tuple[np.ndarray, np.ndarray, Truth]:
    """(ids, unit float32 vectors, truth). Copies get noise of norm 0.1 (cosine ≈ 0.995)."""
    rng = np.random.default_rng(seed)
    n_copies = int(rows * dup_fraction)
    n_base = rows - n_copies
    middle = l2_normalize(rng.standard_normal((centres, dim)).astype(np.float32))
    x = np.empty((rows, dim), dtype=np.float32)
    for start in range(0, n_base, FILE_ROWS):  # chunks keep the float64 temporaries small
        stop = min(n_base, start + FILE_ROWS)
        spread = rng.uniform(0.6, 1.0, size=(stop - start, 1)).astype(np.float32)
        noise = rng.standard_normal((stop - start, dim)).astype(np.float32) / np.sqrt(dim)
        x[start:stop] = l2_normalize(
            middle[rng.integers(0, centres, stop - start)] + spread * noise
        )
    source = rng.integers(0, n_base, size=n_copies)
    for start in range(0, n_copies, FILE_ROWS):
        part = source[start : start + FILE_ROWS]
        noise = rng.standard_normal((len(part), dim)).astype(np.float32) * (0.1 / np.sqrt(dim))
        x[n_base + start : n_base + start + len(part)] = l2_normalize(x[part] + noise)
    ids = rng.permutation(rows).astype(np.int64)  # ids do not reveal which row is the copy
    root = np.empty(rows, dtype=np.int64)
    root[ids] = ids
    root[ids[n_base:]] = ids[source]
    return ids, x, Truth(root)


def write_parquet(path: Path, ids: np.ndarray, x: np.ndarray) -> None:
    path.mkdir(parents=True)
    for part, start in enumerate(range(0, len(ids), FILE_ROWS)):
        table = pa.table(
            {
                "id": pa.array(ids[start : start + FILE_ROWS]),
                "image_emb": matrix_to_arrow_list(x[start : start + FILE_ROWS]),
            }
        )
        pq.write_table(table, path / f"part-{part:05d}.parquet")


def quality(removed_ids: np.ndarray, truth: Truth) -> tuple[float, float]:
    """Recall: planted copies removed, at most (group size − 1) per planted group.
    Precision: that count over all removed rows."""
    root = truth.root
    size = np.bincount(root, minlength=len(root))
    removed_per_group = np.bincount(root[removed_ids], minlength=len(root))
    true_pos = int(np.minimum(removed_per_group, np.maximum(size - 1, 0)).sum())
    recall = true_pos / max(truth.planted, 1)
    precision = true_pos / len(removed_ids) if len(removed_ids) else 1.0
    return recall, precision


# ---------------------------------------------------------------- the two implementations


def dedup_sorted(
    x: np.ndarray, ids: np.ndarray, cluster: np.ndarray, dist: np.ndarray, cfg: SemDedupConfig
) -> tuple[np.ndarray, np.ndarray]:
    """The rule per cluster on one process for unit rows ``x``, sorted by (cluster, dist desc,
    id): (max_sim, partner id or -1), aligned with the input rows."""
    order = np.lexsort((ids, -dist, cluster))
    bounds = np.flatnonzero(np.diff(cluster[order])) + 1
    max_sim = np.full(len(ids), -np.inf)
    partner = np.full(len(ids), -1, dtype=np.int64)
    for rows in np.split(order, bounds):
        best, earlier = max_similarity_to_earlier(x[rows], cfg.block_size)
        max_sim[rows] = best
        partner[rows] = np.where(earlier >= 0, ids[rows][earlier], -1)
    return max_sim, partner


def read_unit_rows(data: str, dim: int) -> tuple[np.ndarray, np.ndarray]:
    """(ids, L2-normalised float32 rows), file by file into one preallocated matrix."""
    files = sorted(Path(data).glob("*.parquet"))
    n = sum(pq.ParquetFile(f).metadata.num_rows for f in files)
    ids = np.empty(n, dtype=np.int64)
    x = np.empty((n, dim), dtype=np.float32)
    start = 0
    for f in files:
        table = pq.read_table(f)
        stop = start + table.num_rows
        ids[start:stop] = table.column("id").to_numpy()
        x[start:stop] = l2_normalize(arrow_list_to_matrix(table.column("image_emb"), dim))
        start = stop
    return ids, x


def single_process(data: str, cfg: SemDedupConfig, dim: int, threads: int) -> dict[str, Any]:
    """Read, sample, fit, assign, dedup; in a fresh process so its peak RSS is its own."""
    from threadpoolctl import threadpool_limits

    times: dict[str, float] = {}
    with threadpool_limits(threads):
        t = time.perf_counter()
        ids, x = read_unit_rows(data, dim)
        times["read"] = time.perf_counter() - t
        t = time.perf_counter()
        km_cfg = cfg.kmeans.with_k(default_k(cfg, len(ids)))
        rng = np.random.default_rng(cfg.kmeans.seed)
        sample = x[np.sort(rng.choice(len(x), sample_size_for(km_cfg, len(x)), replace=False))]
        centroids = fit_spherical_kmeans(sample, km_cfg).centroids
        times["fit"] = time.perf_counter() - t
        t = time.perf_counter()
        cluster, dist = nearest_centroids(x, centroids)
        times["assign"] = time.perf_counter() - t
        t = time.perf_counter()
        max_sim, _ = dedup_sorted(x, ids, cluster, dist, cfg)
        removed = ids[removed_mask(max_sim, cfg.eps)]
        times["dedup"] = time.perf_counter() - t
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    sizes = np.bincount(cluster)
    return {
        "removed": removed,
        "seconds": times,
        "total": sum(times.values()),
        "peak_rss": peak,
        "largest_cluster_rows": int(sizes.max()),
        "pairs_total": int((sizes * (sizes - 1) // 2).sum()),
    }


def spark_run(
    data: str,
    cfg: SemDedupConfig,
    dim: int,
    rows: int,
    driver_memory: str,
    keep: bool = False,
    extra_conf: dict[str, str] | None = None,
) -> dict[str, Any]:
    from pyspark.sql import functions as F

    from spark_prune.semdedup import semdedup, semdedup_removed
    from spark_prune.session import get_spark

    conf = {"spark.driver.memory": driver_memory, "spark.ui.enabled": "false", **(extra_conf or {})}
    spark = get_spark("bench_semdedup", master="local[2]", conf=conf)
    df = spark.read.parquet(data)
    with PeakMemory() as memory:
        start = time.perf_counter()
        result, info = semdedup(df, cfg, "id", "image_emb", dim, rows)
        removed = result.filter(semdedup_removed(F.col("semdedup_max_sim"), cfg.eps))
        removed_ids = removed.select("id").toArrow().column("id").to_numpy()
        total = time.perf_counter() - start
    decisions = result.toArrow() if keep else None
    result.unpersist()
    spark.stop()
    out = {"removed": removed_ids, "total": total, "info": info, "peak": memory.peak}
    return {**out, "decisions": decisions} if keep else out


def verify(data: str, dim: int, cfg: SemDedupConfig, decisions: pa.Table) -> dict[str, int]:
    """Re-run the rule in numpy on Spark's own clusters and distances; count differences."""
    ids, x = read_unit_rows(data, dim)
    by_id = np.argsort(ids)
    ids, x = ids[by_id], x[by_id]
    dec = decisions.sort_by("id")
    if not np.array_equal(dec.column("id").to_numpy(), ids):
        raise AssertionError("Spark's decisions do not cover the input ids exactly once")
    cluster = dec.column("semdedup_cluster_id").to_numpy()
    dist = dec.column("semdedup_dist").to_numpy()
    max_sim, partner = dedup_sorted(x, ids, cluster, dist, cfg)
    spark_sim = dec.column("semdedup_max_sim").fill_null(-np.inf).to_numpy()
    spark_partner = dec.column("semdedup_partner").fill_null(-1).to_numpy()
    return {
        "rows": len(ids),
        "max_sim_differences": int((max_sim != spark_sim).sum()),
        "partner_differences": int((partner != spark_partner).sum()),
    }


# ---------------------------------------------------------------- reports


def show_comparison(
    args: argparse.Namespace, truth: Truth, sp: dict | None, npr: dict | None
) -> None:
    info = sp["info"] if sp else {}
    print(
        f"\n{args.rows:,} rows x {args.dim}-d, {truth.planted:,} planted copies, eps {args.eps}, "
        f"rows_per_cluster {args.rows_per_cluster}, block {args.block_size}"
    )
    if sp:
        print(
            f"spark: k = {info['kmeans']['k']}, largest cluster {info['largest_cluster_rows']:,} "
            f"rows, {info['pairs_total']:.3g} pairs; estimate before the run: "
            f"{info['estimate_before_run']}"
        )
    if npr:
        print(
            f"single process: largest cluster {npr['largest_cluster_rows']:,} rows, "
            f"{npr['pairs_total']:.3g} pairs; stages (s) "
            f"{ {k: round(v, 1) for k, v in npr['seconds'].items()} }"
        )
    print(f"{'':<16}{'seconds':>10}{'rows/s':>12}{'removed':>10}{'recall':>9}{'precision':>11}")
    for name, run in (("spark", sp), ("single process", npr)):
        if run:
            recall, precision = quality(run["removed"], truth)
            print(
                f"{name:<16}{run['total']:>10.1f}{args.rows / run['total']:>12,.0f}"
                f"{len(run['removed']):>10,}{recall:>9.4f}{precision:>11.4f}"
            )
    if sp and npr:
        print(f"ratio spark / single process: {sp['total'] / npr['total']:.2f}")
    if npr:
        print(f"peak RSS single process: {npr['peak_rss'] / MiB:,.0f} MiB")
    if sp:
        peak = {k: f"{v / MiB:,.0f} MiB" for k, v in sp["peak"].items()}
        print(f"peak RSS spark (polled): {peak}")


def big_cluster(args: argparse.Namespace) -> dict[str, Any]:
    """``--big-cluster`` rows (with planted copies) in one cluster: Spark stage or kernel."""
    ids, x, truth = make_rows(args.big_cluster, args.dim, args.dup_fraction, 1, seed=3)
    cfg = SemDedupConfig(
        enabled=True, eps=args.eps, block_size=args.block_size, kmeans=SemDedupKMeansConfig(k=1)
    )
    if args.big_cluster_mode == "numpy":
        from threadpoolctl import threadpool_limits

        with threadpool_limits(args.numpy_threads), PeakMemory() as memory:
            start = time.perf_counter()
            best, _ = max_similarity_to_earlier(x, args.block_size)
            seconds = time.perf_counter() - start
        removed, peak = ids[removed_mask(best, args.eps)], memory.peak
    else:
        data = Path(args.workdir) / "big"
        shutil.rmtree(data, ignore_errors=True)
        write_parquet(data, ids, x)
        del x
        run = spark_run(str(data), cfg, args.dim, args.big_cluster, args.driver_memory)
        removed, seconds, peak = run["removed"], run["total"], run["peak"]
    recall, precision = quality(removed, truth)
    rows = args.big_cluster
    out = {
        "mode": args.big_cluster_mode,
        "rows": rows,
        "dim": args.dim,
        "seconds": round(seconds, 1),
        "pairs_per_second": rows * (rows - 1) / 2 / seconds,
        "recall": recall,
        "precision": precision,
        "peak_rss_mib": {k: round(v / MiB) for k, v in peak.items()},
        "embeddings_mib": round(rows * args.dim * 4 / MiB),
    }
    print(json.dumps(out, indent=1))
    return out


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--dim", type=int, default=512)
    parser.add_argument("--eps", type=float, default=0.07)
    parser.add_argument("--dup-fraction", type=float, default=0.1)
    parser.add_argument("--centres", type=int, default=2000)
    parser.add_argument("--rows-per-cluster", type=int, default=10_000)
    parser.add_argument("--kmeans-iterations", type=int, default=20)
    parser.add_argument("--block-size", type=int, default=1024)
    parser.add_argument("--numpy-threads", type=int, default=1, help="BLAS threads, numpy run")
    parser.add_argument("--driver-memory", default="6g")
    parser.add_argument("--skip-spark", action="store_true")
    parser.add_argument("--skip-numpy", action="store_true")
    parser.add_argument(
        "--verify", action="store_true", help="re-run numpy on Spark's clusters, compare"
    )
    parser.add_argument("--big-cluster", type=int, default=0, help="rows forced into 1 cluster")
    parser.add_argument("--big-cluster-mode", choices=["spark", "numpy"], default="spark")
    parser.add_argument(
        "--border-margins", help="comma-separated semdedup.border_margin values to sweep"
    )
    parser.add_argument("--workdir", default="bench/out/semdedup")
    parser.add_argument("--json", help="write the figures here")
    return parser.parse_args()


def main() -> None:
    args = parse_args()
    print(
        f"{platform.processor() or platform.machine()}, {psutil.cpu_count()} CPUs, "
        f"{psutil.virtual_memory().total / 2**30:.0f} GiB"
    )
    if args.border_margins:
        figures = border_sweep(args)
    else:
        figures = big_cluster(args) if args.big_cluster else compare(args)
    if args.json:
        Path(args.json).write_text(json.dumps(figures, indent=1, default=str))


def compare(args: argparse.Namespace) -> dict[str, Any]:
    work = Path(args.workdir)
    shutil.rmtree(work, ignore_errors=True)
    start = time.perf_counter()
    ids, x, truth = make_rows(args.rows, args.dim, args.dup_fraction, args.centres, seed=5)
    write_parquet(work / "input", ids, x)
    del ids, x
    print(f"data written in {time.perf_counter() - start:.0f} s")
    cfg = SemDedupConfig(
        enabled=True,
        eps=args.eps,
        block_size=args.block_size,
        rows_per_cluster=args.rows_per_cluster,
        kmeans=SemDedupKMeansConfig(iterations=args.kmeans_iterations),
    )
    data = str(work / "input")
    npr = sp = None
    if not args.skip_numpy:
        with multiprocessing.get_context("spawn").Pool(1) as pool:
            npr = pool.apply(single_process, (data, cfg, args.dim, args.numpy_threads))
    if not args.skip_spark:
        sp = spark_run(data, cfg, args.dim, args.rows, args.driver_memory, keep=args.verify)
    show_comparison(args, truth, sp, npr)
    if sp and args.verify:
        sp["verify"] = verify(data, args.dim, cfg, sp.pop("decisions"))
        print(f"numpy on Spark's clusters vs Spark: {sp['verify']}")
    return summary(args, truth, sp, npr)


def border_sweep(args: argparse.Namespace) -> dict[str, Any]:
    """Recall and cost of semdedup.border_margin: one Spark run per margin, same data."""
    work = Path(args.workdir)
    shutil.rmtree(work, ignore_errors=True)
    ids, x, truth = make_rows(args.rows, args.dim, args.dup_fraction, args.centres, seed=5)
    write_parquet(work / "input", ids, x)
    del ids, x
    base = SemDedupConfig(
        enabled=True,
        eps=args.eps,
        block_size=args.block_size,
        rows_per_cluster=args.rows_per_cluster,
        kmeans=SemDedupKMeansConfig(k="auto", iterations=args.kmeans_iterations),
    )
    print(f"\n{args.rows:,} rows x {args.dim}-d, {truth.planted:,} planted copies, eps {args.eps}")
    print(
        f"{'margin':>7}{'recall':>9}{'missed':>8}{'precision':>10}{'seconds':>9}"
        f"{'guests':>9}{'pairs':>14}"
    )
    out: dict[str, Any] = {"args": vars(args), "planted": truth.planted, "runs": []}
    for margin in (float(m) for m in args.border_margins.split(",")):
        cfg = replace(base, border_margin=margin)
        run = spark_run(str(work / "input"), cfg, args.dim, args.rows, args.driver_memory)
        recall, precision = quality(run["removed"], truth)
        info = run["info"]
        border = info.get("border") or {"guests": 0, "pairs_with_guests": info["pairs_total"]}
        missed = truth.planted - round(recall * truth.planted)
        print(
            f"{margin:>7.3f}{recall:>9.4f}{missed:>8}{precision:>10.4f}{run['total']:>9.1f}"
            f"{border['guests']:>9,}{border['pairs_with_guests']:>14,}"
        )
        out["runs"].append(
            {
                "margin": margin,
                "recall": recall,
                "missed": missed,
                "precision": precision,
                "seconds": run["total"],
                **border,
            }
        )
    return out


def summary(args: argparse.Namespace, truth: Truth, sp: dict | None, npr: dict | None) -> dict:
    out: dict[str, Any] = {"args": vars(args), "planted": truth.planted}
    for name, run in (("spark", sp), ("single_process", npr)):
        if run:
            recall, precision = quality(run["removed"], truth)
            out[name] = {
                "seconds": run["total"],
                "removed": len(run["removed"]),
                "recall": recall,
                "precision": precision,
                **{k: v for k, v in run.items() if k not in ("removed", "total")},
            }
    return out


if __name__ == "__main__":
    main()
