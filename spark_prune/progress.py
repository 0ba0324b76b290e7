"""Progress of long Spark work in the log: tasks done in the running stages, every few seconds.

Classic sessions read the SparkContext's status tracker; Spark Connect sessions (no
SparkContext: Databricks serverless and shared clusters) register a progress handler, which
the server feeds with the running operation's stages."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterable, Iterator
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
    try:  # Spark Connect has no SparkContext
        return spark.sparkContext.statusTracker()
    except Exception:
        return None


class ConnectTasks:
    """A Spark Connect progress handler: the latest (completed, total) tasks of the running
    operation, as the server reports them (Connect sessions have no status tracker)."""

    def __init__(self) -> None:
        self.latest: tuple[int, int] | None = None

    def __call__(
        self,
        stages: Iterable[Any] | None,
        inflight_tasks: int,
        operation_id: str | None,
        done: bool,
        **_: Any,
    ) -> None:
        stages = list(stages or [])
        total = sum(int(s.num_tasks) for s in stages)
        completed = sum(int(s.num_completed_tasks) for s in stages)
        self.latest = (completed, total) if total and not done else None


@contextmanager
def _task_counter(spark: SparkSession) -> Iterator[Callable[[], tuple[int, int] | None] | None]:
    """A function giving (completed, total) tasks now: from the SparkContext's status tracker,
    else from a Spark Connect progress handler, else None (no progress lines)."""
    tracker = _status_tracker(spark)
    if tracker is not None:
        yield lambda: tasks_done(tracker)
        return
    handler = ConnectTasks()
    try:
        spark.registerProgressHandler(handler)
    except Exception:  # neither a SparkContext nor a Connect client
        log.debug("no task progress available on %s", type(spark).__name__)
        yield None
        return
    try:
        yield lambda: handler.latest
    finally:
        spark.removeProgressHandler(handler)


@contextmanager
def logged_progress(
    spark: SparkSession, label: str, interval_s: float = INTERVAL_S
) -> Iterator[None]:
    """Log ``label: done/total tasks`` while the body runs, when it changed since last time."""
    if interval_s <= 0:
        yield
        return
    with _task_counter(spark) as counter:
        if counter is None:
            yield
            return
        with _watching(counter, label, interval_s):
            yield


@contextmanager
def _watching(
    counter: Callable[[], tuple[int, int] | None], label: str, interval_s: float
) -> Iterator[None]:
    stop = threading.Event()
    start = time.perf_counter()

    def watch() -> None:
        last = None
        while not stop.wait(interval_s):
            now = counter()
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
