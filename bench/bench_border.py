"""semdedup.border_margin: recall and cost of the rule on planted data, in one process (numpy).

The same data as ``bench_semdedup.py`` (noisy copies at cosine ≈ 0.995), the library's k-means,
assignment and exact kernel, and the border rule of ``spark_prune.semdedup_border`` (hard order:
one global order by each row's distance to its own centroid). Prints, per margin, the planted
copies missed, recall, precision, guests and similarity pairs. The Spark stage itself:
``bench_semdedup.py --border-margins``.

    .venv/bin/python bench/bench_border.py --rows 20000
"""

from __future__ import annotations

import argparse
import time

import numpy as np
from bench_semdedup import make_rows, quality  # bench/ is on sys.path when a script here runs

from spark_prune.config import KMeansConfig
from spark_prune.core.assign import two_nearest_centroids
from spark_prune.core.semdedup_kernel import max_similarity_to_earlier, removed_mask
from spark_prune.kmeans import fit_spherical_kmeans


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, default=20_000)
    parser.add_argument("--dim", type=int, default=64)
    parser.add_argument("--eps", type=float, default=0.07)
    parser.add_argument("--rows-per-cluster", type=int, default=1000)
    parser.add_argument("--margins", default="0,0.005,0.01,0.02,0.05")
    args = parser.parse_args()
    ids, x, truth = make_rows(args.rows, args.dim, 0.1, 100, seed=5)
    k = max(1, args.rows // args.rows_per_cluster)
    sample = x[np.random.default_rng(1234).permutation(args.rows)[: 256 * k]]
    centroids = fit_spherical_kmeans(sample, KMeansConfig(k=k, iterations=20)).centroids
    home, d1, second, d2 = two_nearest_centroids(x, centroids)
    rank = np.empty(args.rows, dtype=np.int64)
    rank[np.lexsort((ids, -d1))] = np.arange(args.rows)
    print(f"{args.rows:,} rows x {args.dim}, k={k}, {truth.planted:,} planted, eps {args.eps}")
    for margin in (float(m) for m in args.margins.split(",")):
        start = time.perf_counter()
        best = np.full(args.rows, -np.inf)
        pairs = guests = 0
        for j in range(k):
            visiting = np.flatnonzero((second == j) & (d2 - d1 < margin))
            members = np.concatenate([np.flatnonzero(home == j), visiting])
            members = members[np.argsort(rank[members])]
            guests += len(visiting)
            pairs += len(members) * (len(members) - 1) // 2
            sim, _ = max_similarity_to_earlier(x[members], 1024)
            best[members] = np.maximum(best[members], sim)
        recall, precision = quality(ids[removed_mask(best, args.eps)], truth)
        missed = truth.planted - round(recall * truth.planted)
        print(
            f"m={margin:<6} missed={missed} recall={recall:.4f} precision={precision:.4f} "
            f"guests={guests:,} pairs={pairs:,} seconds={time.perf_counter() - start:.1f}"
        )


if __name__ == "__main__":
    main()
