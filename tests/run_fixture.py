"""A small, synthetic run that follows the output contract (design.md), written with Spark.

Used by the report and notebook tests, which need a run's tables but not the pipeline itself:
an input Delta table (``id``, ``caption``, ``image`` PNG bytes), ``decisions``, ``clusters``,
``pruned`` and ``manifest.json``. Rows come from a seeded numpy generator; the quotas come from
the real solver (``spark_prune.core.quotas``), so a notebook can reproduce them from ``clusters``.
"""

from __future__ import annotations

import io
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from pyspark.sql import SparkSession
from pyspark.sql import types as T

from spark_prune.contract import CLUSTERS_SCHEMA as CLUSTER_SCHEMA
from spark_prune.core.quotas import cluster_probabilities, lower_bounds, solve_quotas

EPS = 0.07
TAU = 0.1
RUN_ID = "20260101T000000Z-fixture"
INVALID_IDS = (0, 1)
SIZES = (40, 25, 15, 8)  # rows entering DBP per cluster
# Chosen so that the solver caps cluster 3 (quota = size) and puts cluster 2 at its lower
# bound: quotas (22, 9, 1, 8) for a target of 40 rows.
COMPLEXITY = (0.5425, 0.451, 0.111, 0.442)
TARGET = 40
SEMDEDUP_REMOVED = 10

INPUT_SCHEMA = T.StructType(
    [
        T.StructField("id", T.LongType(), False),
        T.StructField("caption", T.StringType(), True),
        T.StructField("image", T.BinaryType(), True),
    ]
)
DECISION_SCHEMA = T.StructType(
    [
        T.StructField("id", T.LongType(), False),
        T.StructField("cluster_id", T.IntegerType(), True),
        T.StructField("dist", T.DoubleType(), True),
        T.StructField("rank_in_cluster", T.IntegerType(), True),
        T.StructField("semdedup_cluster_id", T.IntegerType(), True),
        T.StructField("semdedup_dist", T.DoubleType(), True),
        T.StructField("semdedup_max_sim", T.DoubleType(), True),
        T.StructField("semdedup_partner", T.LongType(), True),
        T.StructField("clip_score", T.DoubleType(), True),
        T.StructField("kept", T.BooleanType(), False),
        T.StructField("reason", T.StringType(), True),
        T.StructField("detail", T.StringType(), True),
    ]
)


@dataclass
class FixtureRun:
    """Where the fixture run lives and what it holds (for assertions)."""

    path: str
    input_path: str
    counts: dict[str, int]
    quotas: list[int] = field(default_factory=list)
    semdedup: bool = True

    @property
    def capped(self) -> list[int]:
        return [c for c, (q, m) in enumerate(zip(self.quotas, SIZES, strict=True)) if q == m]

    @property
    def at_lower_bound(self) -> list[int]:
        return [c for c, q in enumerate(self.quotas) if q == 1]


def fixture_quotas() -> list[int]:
    """The real solver's quotas for the fixture's clusters (tau 0.1, balance ratio 0)."""
    sizes = np.asarray(SIZES)
    p = cluster_probabilities(np.asarray(COMPLEXITY), TAU)
    quotas = solve_quotas(TARGET, p, sizes, lower_bounds(sizes, TARGET, 0.0))
    return [int(q) for q in quotas]


def png_bytes(value: int, size: int = 24) -> bytes:
    """A small solid-colour PNG whose colour depends on ``value``."""
    from PIL import Image

    colour = ((value * 37) % 256, (value * 91) % 256, (value * 53) % 256)
    out = io.BytesIO()
    Image.new("RGB", (size, size), colour).save(out, format="PNG")
    return out.getvalue()


def write_run(
    spark: SparkSession,
    root: Path,
    *,
    semdedup: bool = True,
    images: bool = True,
    seed: int = 0,
) -> FixtureRun:
    """Write input, decisions, clusters, pruned and manifest under ``root``."""
    rng = np.random.default_rng(seed)
    quotas = fixture_quotas()
    n_dedup = SEMDEDUP_REMOVED if semdedup else 0
    n_rows = len(INVALID_IDS) + n_dedup + sum(SIZES)
    input_path, run_path = root / "input", root / "run"
    _write_input(spark, input_path, n_rows, images)
    decisions = _decisions(rng, n_rows, n_dedup, semdedup, quotas)
    _save(spark.createDataFrame(decisions, DECISION_SCHEMA), run_path / "decisions")
    _save(
        spark.createDataFrame(_clusters(rng, decisions, quotas), CLUSTER_SCHEMA),
        run_path / "clusters",
    )
    kept_ids = ",".join(str(row[0]) for row in decisions if row[9])
    source = spark.read.format("delta").load(str(input_path))
    _save(source.filter(f"id IN ({kept_ids})"), run_path / "pruned")
    counts = {
        "input": n_rows,
        "invalid": len(INVALID_IDS),
        "semdedup": n_dedup,
        "clip_score": 0,
        "dbp": sum(SIZES) - sum(quotas),
        "kept": sum(quotas),
    }
    doc = _manifest(run_path, input_path, counts, semdedup)
    (run_path / "manifest.json").write_text(json.dumps(doc, indent=2, sort_keys=True))
    return FixtureRun(str(run_path), str(input_path), counts, quotas, semdedup)


def _save(df: Any, path: Path) -> None:
    df.coalesce(1).write.format("delta").save(str(path))


def _write_input(spark: SparkSession, path: Path, n_rows: int, images: bool) -> None:
    rows = [(i, f"row {i}", png_bytes(i) if images else None) for i in range(n_rows)]
    df = spark.createDataFrame(rows, INPUT_SCHEMA)
    if not images:
        df = df.drop("image")
    _save(df, path)


def _decisions(
    rng: np.random.Generator, n_rows: int, n_dedup: int, semdedup: bool, quotas: list[int]
) -> list[tuple[Any, ...]]:
    """Invalid rows, SemDeDup removals (each a near copy of the row before), then DBP rows."""
    rows: list[tuple[Any, ...]] = [
        (i, None, None, None, None, None, None, None, None, False, "invalid", "embedding is null")
        for i in INVALID_IDS
    ]
    next_id = len(INVALID_IDS)
    for _ in range(n_dedup):
        sim = float(rng.uniform(1 - EPS + 0.001, 1.0))
        rows.append((next_id, None, None, None, 0, 0.1, sim, next_id - 1, None, False,
                     "semdedup", None))  # fmt: skip
        next_id += 1
    for cluster, (size, quota) in enumerate(zip(SIZES, quotas, strict=True)):
        dists = np.sort(rng.uniform(0.3, 0.9, size))[::-1]  # rank 0 = farthest
        for rank, dist in enumerate(dists):
            near = float(rng.uniform(0.3, 1 - EPS - 0.005))  # below the cut: not removed
            dedup = (0, 0.2, near, next_id - 1) if semdedup else (None, None, None, None)
            kept = rank < quota
            rows.append((next_id, cluster, float(dist), rank, *dedup, None, kept,
                         None if kept else "dbp", None))  # fmt: skip
            next_id += 1
    assert next_id == n_rows
    return rows


def _clusters(
    rng: np.random.Generator, decisions: list[tuple[Any, ...]], quotas: list[int]
) -> list[tuple[Any, ...]]:
    """One row per cluster in CLUSTER_SCHEMA order; complexity = d_inter * d_intra."""
    complexity = np.asarray(COMPLEXITY)
    p = cluster_probabilities(complexity, TAU)
    rows = []
    for c, (size, quota) in enumerate(zip(SIZES, quotas, strict=True)):
        d_intra = float(np.mean([r[2] for r in decisions if r[1] == c]))
        centroid = rng.normal(size=8)
        centroid /= np.linalg.norm(centroid)
        rows.append((c, [float(v) for v in centroid], size, d_intra,
                     float(complexity[c] / d_intra), float(complexity[c]), float(p[c]),
                     float(TARGET * p[c]), 1, quota, quota, quota == size,
                     quota == 1))  # fmt: skip
    return rows


def _manifest(
    run_path: Path, input_path: Path, counts: dict[str, int], semdedup: bool
) -> dict[str, Any]:
    dbp = {
        "enabled": True,
        "strategy": "dbp",
        "tau": TAU,
        "keep_fraction": TARGET / sum(SIZES),
        "keep_count": None,
        "balance_ratio": 0.0,
        "within_cluster": "hard",
        "num_neighbors": 20,
        "kmeans": {"k": len(SIZES)},
    }
    return {
        "manifest_version": 1,
        "run_id": RUN_ID,
        "started": "2026-01-01T00:00:00+00:00",
        "finished": "2026-01-01T00:01:00+00:00",
        "input": {
            "path": str(input_path),
            "format": "delta",
            "delta_version": 0,
            "id_column": "id",
            "embedding_column": "image_emb",
            "embedding_dim": 8,
        },
        "config": {"semdedup": {"enabled": semdedup, "eps": EPS}, "dbp": dbp},
        "kmeans": {"dbp": {"k": len(SIZES), "iterations": 20}, "dbp_empty_clusters": 0},
        "dbp": {"rows_in": sum(SIZES), "target": TARGET},
        "semdedup": {"eps": EPS, "k": 1} if semdedup else None,
        "counts": counts,
        "outputs": {
            name: {"location": str(run_path / name), "delta_version": 0}
            for name in ("decisions", "clusters", "pruned")
        },
    }


@pytest.fixture(scope="session", name="shared_run")
def shared_run_fixture(spark: SparkSession, tmp_path_factory: pytest.TempPathFactory) -> FixtureRun:
    """``shared_run``: one full run (SemDeDup, DBP, images) for the report and notebook tests.

    Test modules import this function (the name differs from the fixture's on purpose).
    """
    return write_run(spark, tmp_path_factory.mktemp("fixture_run"))
