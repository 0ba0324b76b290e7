"""How the session builder tells a spark-submit launch from a plain Python run."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from spark_prune.session import _launched_by_spark_submit

ROOT = Path(__file__).resolve().parents[1]


def test_plain_python_with_submit_args_is_not_spark_submit(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("PYSPARK_GATEWAY_PORT", raising=False)
    args = "--packages io.delta:delta-spark_2.13:4.0.1 pyspark-shell"
    monkeypatch.setenv("PYSPARK_SUBMIT_ARGS", args)
    monkeypatch.setenv("SPARK_ENV_LOADED", "1")
    assert not _launched_by_spark_submit()


def test_driver_started_by_the_jvm_is_spark_submit(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PYSPARK_GATEWAY_PORT", "40123")
    assert _launched_by_spark_submit()


LOCAL_CONNECT_SCRIPT = """
import sys
from spark_prune.session import get_spark
spark = get_spark("local_connect_test", conf={"spark.sql.shuffle.partitions": "3"})
path = sys.argv[1]
spark.range(5).write.format("delta").save(path)
spark.sql(f"DELETE FROM delta.`{path}` WHERE id = 2")
print(type(spark).__module__, spark.read.format("delta").load(path).count(),
      spark.conf.get("spark.sql.shuffle.partitions"))
"""


def test_spark_remote_local_starts_a_connect_server_with_delta(tmp_path: Path) -> None:
    """``SPARK_REMOTE=local[1]``: pyspark starts a Connect server in a local JVM; it gets the
    Delta jars and SQL extension (a Delta ``DELETE`` needs both) and the caller's settings."""
    env = {**os.environ, "SPARK_REMOTE": "local[1]", "PYTHONPATH": str(ROOT)}
    table = tmp_path / "t"
    done = subprocess.run(
        [sys.executable, "-c", LOCAL_CONNECT_SCRIPT, str(table)],
        env=env,
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    assert done.stdout.split() == ["pyspark.sql.connect.session", "4", "3"]
