"""Small input tables for pipeline tests."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import types as T

from spark_prune.config import PipelineConfig
from spark_prune.config_loader import config_from_dict
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
