"""Progress of long Spark work in the log: tasks done in the running stages, every few seconds."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from pyspark.sql import SparkSession

log = logging.getLogger(__name__)

INTERVAL_S = 10.0


def tasks_done(tracker: Any) -> tuple[int, int] | None:
    """(completed, total) tasks over the active stages, or None when nothing is running."""
    done = total = 0
    for stage_id in tracker.getActiveStageIds():
        info = tracker.getStageInfo(stage_id)
        if info is not None:
            done += info.numCompletedTasks
            total += info.numTasks
    return (done, total) if total else None


def _status_tracker(spark: SparkSession) -> Any:
    try:  # Spark Connect has no SparkContext: no progress lines there
        return spark.sparkContext.statusTracker()
    except Exception:
        return None


@contextmanager
def logged_progress(
    spark: SparkSession, label: str, interval_s: float = INTERVAL_S
) -> Iterator[None]:
    """Log ``label: done/total tasks`` while the body runs, when it changed since last time."""
    tracker = _status_tracker(spark)
    if tracker is None or interval_s <= 0:
        yield
        return
    stop = threading.Event()
    start = time.perf_counter()

    def watch() -> None:
        last = None
        while not stop.wait(interval_s):
            now = tasks_done(tracker)
            if now is not None and now != last:
                elapsed = time.perf_counter() - start
                log.info("%s: %d of %d tasks done (%.0fs)", label, *now, elapsed)
                last = now

    thread = threading.Thread(target=watch, name=f"progress:{label}", daemon=True)
    thread.start()
    try:
        yield
    finally:
        stop.set()
        thread.join()
