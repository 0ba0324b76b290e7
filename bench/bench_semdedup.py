"""Benchmark: SemDeDup on Spark vs single-process numpy/faiss, with planted near duplicates.

Rows are unit vectors around many centres (spreads wide enough that natural neighbours stay
below the threshold); a fraction are noisy copies of other rows (cosine ≈ 0.995, well above
1 − eps), so the ground truth is known. Prints seconds, rows/s, recall and precision of the
planted duplicates for both implementations, their ratio, and peak memory. ``--big-cluster``
also runs one cluster of that many rows through the blockwise kernel alone.

    .venv/bin/python bench/bench_semdedup.py --rows 1000000
    .venv/bin/python bench/bench_semdedup.py --rows 100000 --big-cluster 200000
"""

from __future__ import annotations

import argparse
import multiprocessing
import shutil
import time
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.dataset as ds
import pyarrow.parquet as pq
from bench_dbp import PeakMemory

from spark_prune.assign import nearest_centroids
from spark_prune.config import KMeansConfig, SemDedupConfig
from spark_prune.kmeans import fit_spherical_kmeans, sample_size_for
from spark_prune.semdedup import (
    default_k,
    max_similarity_to_earlier,
    order_within_cluster,
    removed_mask,
)
from spark_prune.vectors import arrow_list_to_matrix, l2_normalize, matrix_to_arrow_list


def write_planted(path: Path, rows: int, dim: int, dup_fraction: float, seed: int) -> np.ndarray:
    """Parquet rows with planted copies; returns group[i] = id of the row it copies (or -1)."""
    rng = np.random.default_rng(seed)
    centres = l2_normalize(rng.standard_normal((400, dim)).astype(np.float32))
    n_copies = int(rows * dup_fraction)
    n_base = rows - n_copies
    which = rng.integers(0, 400, size=n_base)
    spread = rng.uniform(0.6, 1.0, size=(n_base, 1)).astype(np.float32)
    base = l2_normalize(
        centres[which]
        + spread * rng.standard_normal((n_base, dim)).astype(np.float32) / np.sqrt(dim) * 3
    )
    source = rng.integers(0, n_base, size=n_copies)
    noise = rng.standard_normal((n_copies, dim)).astype(np.float32) * 0.1 / np.sqrt(dim)
    copies = l2_normalize(base[source] + noise)
    x = np.concatenate([base, copies])
    order = rng.permutation(rows)  # ids do not reveal which row is the copy
    ids = np.empty(rows, dtype=np.int64)
    ids[order] = np.arange(rows)
    copy_of = np.full(rows, -1, dtype=np.int64)
    copy_of[ids[n_base:]] = ids[source]
    path.mkdir(parents=True)
    for part, start in enumerate(range(0, rows, 100_000)):
        stop = min(rows, start + 100_000)
        pq.write_table(
            pa.table(
                {"id": pa.array(ids[start:stop]), "image_emb": matrix_to_arrow_list(x[start:stop])}
            ),
            path / f"part-{part:05d}.parquet",
        )
    return copy_of


def quality(removed_ids: np.ndarray, copy_of: np.ndarray) -> tuple[float, float]:
    """Recall: planted groups reduced to one row. Precision: removed rows that were planted."""
    root = np.where(copy_of >= 0, copy_of, np.arange(len(copy_of)))
    planted_roots = np.unique(copy_of[copy_of >= 0])
    in_group = np.isin(root, planted_roots)
    removed = np.zeros(len(copy_of), dtype=bool)
    removed[removed_ids] = True
    kept_per_group = np.bincount(root[in_group & ~removed], minlength=len(copy_of))[planted_roots]
    recall = float(np.mean(kept_per_group == 1))
    precision = float(in_group[removed].mean()) if removed.any() else 1.0
    return recall, precision


def single_process(data: Path, cfg: SemDedupConfig, dim: int) -> tuple[np.ndarray, dict, int]:
    times: dict[str, float] = {}
    with PeakMemory() as memory:
        t = time.perf_counter()
        table = ds.dataset(str(data), format="parquet").to_table()
        ids = table.column("id").to_numpy()
        x = arrow_list_to_matrix(table.column("image_emb"), dim)
        times["read"] = time.perf_counter() - t
        t = time.perf_counter()
        km_cfg = KMeansConfig(
            k=default_k(cfg, len(ids)), iterations=cfg.kmeans.iterations, seed=cfg.kmeans.seed
        )
        rng = np.random.default_rng(0)
        sample = x[rng.choice(len(x), size=sample_size_for(km_cfg, len(x)), replace=False)]
        centroids = fit_spherical_kmeans(sample, km_cfg).centroids
        cluster, dist = nearest_centroids(x, centroids)
        times["fit+assign"] = time.perf_counter() - t
        t = time.perf_counter()
        removed: list[np.ndarray] = []
        for c in np.unique(cluster):
            rows = np.flatnonzero(cluster == c)
            perm = rows[order_within_cluster(dist[rows], ids[rows], "hard")]
            best, _ = max_similarity_to_earlier(x[perm], cfg.block_size)
            removed.append(ids[perm][removed_mask(best, cfg.eps)])
        times["dedup"] = time.perf_counter() - t
    times["total"] = sum(times.values())
    return np.concatenate(removed), times, memory.python


def spark_run(data: Path, cfg: SemDedupConfig, dim: int, rows: int) -> tuple[np.ndarray, dict]:
    from pyspark.sql import functions as F

    from spark_prune.semdedup import semdedup, semdedup_removed
    from spark_prune.session import get_spark

    spark = get_spark("bench_semdedup", master="local[2]", conf={"spark.driver.memory": "6g"})
    df = spark.read.parquet(str(data))
    with PeakMemory() as memory:
        start = time.perf_counter()
        result, info = semdedup(df, cfg, "id", "image_emb", dim, rows)
        removed = (
            result.filter(semdedup_removed(F.col("semdedup_max_sim"), cfg.eps))
            .select("id")
            .toPandas()["id"]
            .to_numpy()
        )
        total = time.perf_counter() - start
    return removed, {
        "total": total,
        "python_rss": memory.python,
        "jvm_rss": memory.jvm,
        "largest_cluster_rows": info["largest_cluster_rows"],
        "k": info["kmeans"]["k"],
    }


def big_cluster(rows: int, dim: int, block: int) -> None:
    rng = np.random.default_rng(3)
    x = l2_normalize(rng.standard_normal((rows, dim)).astype(np.float32))
    with PeakMemory() as memory:
        start = time.perf_counter()
        max_similarity_to_earlier(x, block)
        seconds = time.perf_counter() - start
    print(
        f"one cluster of {rows:,} rows x {dim}: {seconds:.0f} s, "
        f"{rows * (rows - 1) / 2 / seconds / 1e6:.1f} M pairs/s, peak RSS "
        f"{memory.python / 2**20:,.0f} MiB (embeddings alone {x.nbytes / 2**20:,.0f} MiB)"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--dim", type=int, default=512)
    parser.add_argument("--eps", type=float, default=0.07)
    parser.add_argument("--dup-fraction", type=float, default=0.1)
    parser.add_argument("--rows-per-cluster", type=int, default=2000)
    parser.add_argument("--big-cluster", type=int, default=0)
    parser.add_argument("--workdir", default="bench/out_semdedup")
    args = parser.parse_args()
    if args.big_cluster:
        big_cluster(args.big_cluster, args.dim, 1024)
    work = Path(args.workdir)
    shutil.rmtree(work, ignore_errors=True)
    copy_of = write_planted(work / "input", args.rows, args.dim, args.dup_fraction, seed=5)
    cfg = SemDedupConfig(
        enabled=True,
        eps=args.eps,
        rows_per_cluster=args.rows_per_cluster,
        kmeans=KMeansConfig(k=0, iterations=20),
    )
    with multiprocessing.get_context("spawn").Pool(1) as pool:
        np_removed, np_times, np_rss = pool.apply(single_process, (work / "input", cfg, args.dim))
    sp_removed, sp = spark_run(work / "input", cfg, args.dim, args.rows)
    planted = int((copy_of >= 0).sum())
    print(
        f"\n{args.rows:,} rows x {args.dim}-d, {planted:,} planted copies, eps {args.eps}, "
        f"k = {sp['k']} (largest cluster {sp['largest_cluster_rows']:,} rows), local[2]"
    )
    print(f"{'':<16}{'seconds':>10}{'rows/s':>12}{'removed':>10}{'recall':>9}{'precision':>11}")
    for name, removed, seconds in (
        ("spark", sp_removed, sp["total"]),
        ("single process", np_removed, np_times["total"]),
    ):
        recall, precision = quality(removed, copy_of)
        print(
            f"{name:<16}{seconds:>10.1f}{args.rows / seconds:>12,.0f}{len(removed):>10,}"
            f"{recall:>9.4f}{precision:>11.4f}"
        )
    print(f"ratio spark / single process: {sp['total'] / np_times['total']:.2f}")
    print(f"single-process stages: { {k: round(v, 1) for k, v in np_times.items()} }")
    print(
        f"peak RSS: single process {np_rss / 2**20:,.0f} MiB; Spark driver python "
        f"{sp['python_rss'] / 2**20:,.0f} MiB, JVM {sp['jvm_rss'] / 2**20:,.0f} MiB"
    )


if __name__ == "__main__":
    main()
