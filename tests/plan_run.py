"""Run small whole pipelines in a Spark session of their own that writes an event log.

``python -m tests.plan_run WORKDIR`` (used by tests/test_plans.py): writes a small input with
planted duplicates and a tied CLIP score, runs SemDeDup → CLIP filter (keep_fraction) → DBP
(``ssp``, then ``random``), then one deliberately bad query (a window over all rows and a
broadcast of row ids) labelled ``CONTROL`` so the test can prove its checks catch both.
Automatic broadcast joins are off, as they would be for row-sized sides at real scale, so
every broadcast in the log is one the code asked for.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np
from pyspark.sql import SparkSession, Window
from pyspark.sql import functions as F
from pyspark.sql import types as T

from spark_prune.config_loader import config_from_dict
from spark_prune.demo.synthetic import clustered_embeddings
from spark_prune.pipeline import run
from spark_prune.session import get_spark

CONTROL = "plan-check-control"
ROWS, DUPLICATES, DIM = 320, 60, 16
MAX_CLUSTERS = 6  # the largest k below: a broadcast of at most this many rows is k-row


def write_input(spark: SparkSession, path: str) -> None:
    ids, x = clustered_embeddings(ROWS, DIM, 4, seed=21)
    rng = np.random.default_rng(22)
    copies = x[rng.choice(ROWS, DUPLICATES, replace=False)]
    x = np.vstack([x, copies + 1e-4 * rng.standard_normal(copies.shape).astype(np.float32)])
    ids = np.arange(len(x), dtype=np.int64)
    score = np.round(rng.uniform(size=len(x)), 1)  # eleven values: many ties
    schema = T.StructType(
        [
            T.StructField("id", T.LongType(), False),
            T.StructField("image_emb", T.ArrayType(T.FloatType()), True),
            T.StructField("score", T.DoubleType(), True),
        ]
    )
    rows = [(int(i), v.tolist(), float(s)) for i, v, s in zip(ids, x, score, strict=True)]
    spark.createDataFrame(rows, schema).repartition(3).write.format("delta").save(path)


def pipeline_config(input_path: str, output: str, strategy: str):  # type: ignore[no-untyped-def]
    return config_from_dict(
        {
            "input": {"path": input_path},
            "output": {"path": output},
            "semdedup": {"enabled": True, "eps": 0.01, "kmeans": {"k": 4, "iterations": 5}},
            "clip_filter": {"enabled": True, "score_column": "score", "keep_fraction": 0.7},
            "dbp": {
                "strategy": strategy,
                "keep_fraction": 0.5,
                "kmeans": {"k": MAX_CLUSTERS - 1, "iterations": 5},
            },
        }
    )


def control_query(spark: SparkSession, input_path: str) -> None:
    """Both faults on purpose: a global window (SinglePartition) and a broadcast of row ids."""
    rows = spark.read.format("delta").load(input_path)
    spark.sparkContext.setLocalProperty("spark.job.description", CONTROL)
    ranked = rows.withColumn("r", F.row_number().over(Window.orderBy("score", "id")))
    ranked.filter("r % 2 = 0").join(F.broadcast(rows.select("id")), "id", "left_semi").count()
    spark.sparkContext.setLocalProperty("spark.job.description", None)


def main(workdir: Path) -> None:
    events = workdir / "events"
    events.mkdir(parents=True, exist_ok=True)
    spark = get_spark(
        "plan_check",
        master="local[2]",
        conf={
            "spark.eventLog.enabled": "true",
            "spark.eventLog.dir": events.as_uri(),
            "spark.eventLog.compress": "false",
            "spark.eventLog.rolling.enabled": "false",
            "spark.sql.autoBroadcastJoinThreshold": "-1",
            "spark.sql.adaptive.autoBroadcastJoinThreshold": "-1",
            "spark.sql.shuffle.partitions": "4",
            "spark.default.parallelism": "4",
            "spark.ui.enabled": "false",
            "spark.driver.memory": "1g",
        },
    )
    input_path = str(workdir / "input")
    write_input(spark, input_path)
    counts = {}
    for strategy in ("ssp", "random"):
        cfg = pipeline_config(input_path, str(workdir / strategy), strategy)
        counts[strategy] = run(spark, cfg).counts
    control_query(spark, input_path)
    spark.stop()
    print(json.dumps({"rows": ROWS + DUPLICATES, "counts": counts}))


if __name__ == "__main__":
    main(Path(sys.argv[1]))
