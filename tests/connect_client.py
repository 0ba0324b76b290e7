"""A Spark Connect client process for tests/test_cluster_managers.py.

    python -m tests.connect_client sc://127.0.0.1:PORT OUT.json --config conf/demo.yaml --set ...

Runs ``spark_prune.pipeline.run`` (embed -> SemDeDup -> DBP) and then the embed stage alone
(``embed_only``) through a remote session, and writes what the test checks to OUT.json. It is
a separate process because a Connect session switches pyspark's functions to Connect mode for
the whole interpreter (``SPARK_CONNECT_MODE_ENABLED``), which would break the classic session
the other tests share.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pandas as pd
from pyspark.sql import SparkSession

from spark_prune.cli import add_overrides, configure_logging
from spark_prune.config_loader import load_config
from spark_prune.pipeline import run
from spark_prune.progress import logged_progress
from spark_prune.stages.embed import embed_only


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("remote")
    parser.add_argument("out")
    parser.add_argument("--config")
    add_overrides(parser)
    args = parser.parse_args(argv)
    configure_logging()
    spark = SparkSession.builder.remote(args.remote).getOrCreate()
    try:
        facts = _run_all(spark, args.config, args.overrides)
    finally:
        spark.stop()
    Path(args.out).write_text(json.dumps(facts, default=str))
    return 0


def _run_all(spark: SparkSession, config: str | None, overrides: list[str]) -> dict:
    has_context = _has_spark_context(spark)
    slow = spark.range(0, 8, numPartitions=8).mapInPandas(_slow, "id long")
    with logged_progress(spark, "connect probe", interval_s=0.2):
        probe = slow.count()
    cfg = load_config(config, overrides)
    result = run(spark, cfg)
    decisions = (
        result.output.read(spark, "decisions").select(cfg.input.id_column, "reason").collect()
    )
    again = embed_only(spark, cfg)
    return {
        "session_class": f"{type(spark).__module__}.{type(spark).__name__}",
        "has_spark_context": has_context,
        "probe_count": probe,
        "counts": result.counts,
        "reasons": {str(r[0]): r[1] for r in decisions},
        "embed_only": again,
    }


def _slow(batches: Iterator[pd.DataFrame]) -> Iterator[pd.DataFrame]:
    for batch in batches:
        time.sleep(0.5)
        yield batch


def _has_spark_context(spark: SparkSession) -> bool:
    try:
        spark.sparkContext  # noqa: B018 - the attribute access is the check
    except Exception:
        return False
    return True


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
