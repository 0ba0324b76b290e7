"""Small input tables for pipeline tests."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import types as T

from spark_prune.config import PipelineConfig
from spark_prune.config_loader import config_from_dict
from spark_prune.core.vectors import l2_normalize
from spark_prune.demo.synthetic import clustered_embeddings

SCHEMA = T.StructType(
    [
        T.StructField("id", T.LongType(), False),
        T.StructField("image_emb", T.ArrayType(T.FloatType()), True),
        T.StructField("caption", T.StringType(), True),
    ]
)


def embedding_rows(n: int, dim: int, k: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    return clustered_embeddings(n, dim, k, seed)


def write_input(
    spark: SparkSession, path: Path, ids: np.ndarray, x: np.ndarray | list, partitions: int = 2
) -> str:
    rows = [
        (int(i), None if v is None else [float(f) for f in v], f"row {i}")
        for i, v in zip(ids, x, strict=True)
    ]
    df: DataFrame = spark.createDataFrame(rows, SCHEMA).repartition(partitions)
    df.write.format("delta").mode("overwrite").save(str(path))
    return str(path)


def make_config(input_path: str, output_path: str, **sections: dict[str, Any]) -> PipelineConfig:
    raw: dict[str, Any] = {
        "input": {"path": input_path},
        "output": {"path": output_path},
        "dbp": {"keep_fraction": 0.5, "kmeans": {"k": 6, "iterations": 20}},
    }
    for name, values in sections.items():
        raw[name] = {**raw.get(name, {}), **values}
    return config_from_dict(raw)


def unit(rng: np.random.Generator, n: int, d: int) -> np.ndarray:
    return l2_normalize(rng.standard_normal((n, d)).astype(np.float32))


def near_copies(rng: np.random.Generator, x: np.ndarray, scale: float) -> np.ndarray:
    noise = scale * rng.standard_normal(x.shape).astype(np.float32) / np.sqrt(x.shape[1])
    return l2_normalize(x + noise)


def tricky_cluster(seed: int, n: int, d: int) -> np.ndarray:
    """Random rows plus exact duplicates, near duplicates and near ties below float32 noise."""
    rng = np.random.default_rng(seed)
    x = unit(rng, n, d)
    x[n // 4] = x[3]  # exact duplicates: similarity 1 to row 3, the earliest copy wins
    x[n // 2] = x[3]
    x[n // 3 : n // 3 + 5] = near_copies(rng, x[10:15], 0.05)
    x[-6:] = near_copies(rng, np.repeat(x[5:6], 6, axis=0), 1e-6)  # ties within float32 error
    return x


def dup_heavy(seed: int, n: int, d: int) -> np.ndarray:
    """Random rows with runs of exact copies and near ties: many equal stored similarities."""
    rng = np.random.default_rng(seed)
    x = l2_normalize(rng.standard_normal((n, d)).astype(np.float32))
    x[n // 3 : n // 2] = x[2]  # a long run of identical rows: each ties with all before it
    x[n - 40 : n - 20] = x[5]
    x[n - 20 :] = l2_normalize(x[7] + 1e-6 * rng.standard_normal((20, d)).astype(np.float32))
    x[n // 2 : n // 2 + 30 : 3] = x[n // 2 - 1]
    return x


# The standard pipeline input (the session-scoped ``data``/``input_path`` fixtures in conftest)
N, DIM, K = 1500, 16, 6


def decisions(spark: SparkSession, out: str) -> pd.DataFrame:
    """A run's decisions table, by id (tiny test runs only)."""
    return spark.read.format("delta").load(f"{out}/decisions").orderBy("id").toPandas()


def clusters(spark: SparkSession, out: str) -> pd.DataFrame:
    return spark.read.format("delta").load(f"{out}/clusters").orderBy("cluster_id").toPandas()
