"""Progress lines while Spark works."""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator

import pandas as pd
import pytest
from pyspark.sql import SparkSession

from spark_prune.progress import ConnectTasks, logged_progress, tasks_done


def _slow(batches: Iterator[pd.DataFrame]) -> Iterator[pd.DataFrame]:
    for batch in batches:
        time.sleep(0.4)
        yield batch


def test_long_work_logs_tasks_done(spark: SparkSession, caplog: pytest.LogCaptureFixture) -> None:
    df = spark.range(0, 12, numPartitions=12).mapInPandas(_slow, "id long")
    with (
        caplog.at_level(logging.INFO, logger="spark_prune.progress"),
        logged_progress(spark, "slow stage", interval_s=0.3),
    ):
        assert df.count() == 12
    lines = [r.getMessage() for r in caplog.records if r.getMessage().startswith("slow stage:")]
    assert lines, caplog.text
    # count() ends with a one-task stage, which a slow machine may catch too
    wide = [line for line in lines if " of 12 tasks done" in line]
    assert wide, lines
    done = [int(line.split(": ")[1].split(" of ")[0]) for line in wide]
    assert done == sorted(done) and done[-1] <= 12, wide
    # nothing running now, once the listener bus has delivered the last stage's end (the
    # status tracker reads a store that events update after the action has returned)
    tracker = spark.sparkContext.statusTracker()
    deadline = time.monotonic() + 10
    while tasks_done(tracker) is not None and time.monotonic() < deadline:
        time.sleep(0.1)
    assert tasks_done(tracker) is None


def test_no_lines_when_disabled(spark: SparkSession, caplog: pytest.LogCaptureFixture) -> None:
    with (
        caplog.at_level(logging.INFO, logger="spark_prune.progress"),
        logged_progress(spark, "off", interval_s=0),
    ):
        spark.range(3).count()
    assert "off:" not in caplog.text


def test_connect_handler_counts_the_running_operations_tasks() -> None:
    from pyspark.sql.connect.shell.progress import StageInfo

    handler = ConnectTasks()
    stages = [StageInfo(0, 4, 4, 0, True), StageInfo(1, 8, 3, 0, False)]
    handler(stages=stages, inflight_tasks=2, operation_id="op", done=False)
    assert handler.latest == (7, 12)
    handler(stages=stages, inflight_tasks=0, operation_id="op", done=True)
    assert handler.latest is None


def test_no_lines_and_no_error_without_any_progress_source(
    caplog: pytest.LogCaptureFixture,
) -> None:
    class NoContext:  # neither a SparkContext nor a Connect client behind it
        @property
        def sparkContext(self) -> None:
            raise RuntimeError("no SparkContext here")

    with (
        caplog.at_level(logging.INFO, logger="spark_prune.progress"),
        logged_progress(NoContext(), "none", interval_s=0.01),  # type: ignore[arg-type]
    ):
        time.sleep(0.05)
    assert "none:" not in caplog.text
