"""The physical plans of whole small runs: nothing row-sized on one node (issue 10, item 1).

The runs happen in a subprocess with its own SparkSession writing an event log
(``tests/plan_run.py``); this test reads every SQL execution's plans from the log (the initial
plan and every adaptive re-plan) and the driver-side metrics of the broadcasts, and checks:

- no Window or Sort is fed by an ``Exchange SinglePartition`` (a global window or sort over all
  rows in one task); a global aggregate (a count) or a bounded top-k is fine;
- no broadcast carries more rows than a k-row table (the most clusters of any k-means here).

A control query in the same log commits both faults; the checks must flag it and only it.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.plan_run import CONTROL, MAX_CLUSTERS

pytestmark = pytest.mark.slow  # run first under xdist (tests/conftest.py)

ROOT = Path(__file__).resolve().parent.parent
SQL_EVENTS = "org.apache.spark.sql.execution.ui."
ORDERED_NODES = ("Window", "Sort", "WindowGroupLimit")


def nodes(plan: dict[str, Any]) -> Iterator[dict[str, Any]]:
    yield plan
    for child in plan.get("children", []):
        yield from nodes(child)


def exchanges_below(node: dict[str, Any]) -> Iterator[dict[str, Any]]:
    """The nearest shuffle exchanges under ``node`` on every path (the data it reads)."""
    for child in node.get("children", []):
        if child["nodeName"] == "Exchange":
            yield child
        elif child["nodeName"] not in ("InMemoryTableScan", "BroadcastExchange"):
            # a cached relation's own plan is checked where it appears, not as this input
            yield from exchanges_below(child)


def single_partition_orderings(plan: dict[str, Any]) -> list[str]:
    return [
        node["simpleString"][:120]
        for node in nodes(plan)
        if node["nodeName"] in ORDERED_NODES
        and any("SinglePartition" in ex["simpleString"] for ex in exchanges_below(node))
    ]


def read_event_log(events: Path) -> dict[int, dict[str, Any]]:
    """executionId → description, plans and the driver's metric updates."""
    runs: dict[int, dict[str, Any]] = {}
    files = [f for f in events.rglob("*") if f.is_file() and not f.name.startswith(".")]
    assert files, f"no event log written under {events}"
    for file in files:
        for line in file.read_text().splitlines():
            event = json.loads(line)
            kind = event["Event"].removeprefix(SQL_EVENTS)
            if kind not in (
                "SparkListenerSQLExecutionStart",
                "SparkListenerSQLAdaptiveExecutionUpdate",
                "SparkListenerDriverAccumUpdates",
            ):
                continue
            run = runs.setdefault(
                event["executionId"], {"description": "", "plans": [], "accums": {}}
            )
            if kind == "SparkListenerDriverAccumUpdates":
                for acc_id, value in event["accumUpdates"]:
                    run["accums"][acc_id] = run["accums"].get(acc_id, 0) + value
                continue
            run["plans"].append(event["sparkPlanInfo"])
            run["description"] = event.get("description") or run["description"]
    return runs


def broadcast_rows(run: dict[str, Any]) -> list[int]:
    """Rows sent by each BroadcastExchange that ran (its driver-side output-rows metric)."""
    sizes = {}
    for plan in run["plans"]:
        for node in nodes(plan):
            if node["nodeName"] != "BroadcastExchange":
                continue
            for metric in node["metrics"]:
                acc = metric["accumulatorId"]
                if metric["name"] == "number of output rows" and acc in run["accums"]:
                    sizes[acc] = run["accums"][acc]
    return list(sizes.values())


def violations(runs: dict[int, dict[str, Any]]) -> dict[str, list[str]]:
    found: dict[str, list[str]] = {"single_partition": [], "broadcast": []}
    for exec_id, run in sorted(runs.items()):
        label = f"{exec_id} {run['description'][:60]!r}"
        for plan in run["plans"]:
            found["single_partition"] += [f"{label}: {s}" for s in single_partition_orderings(plan)]
        found["broadcast"] += [
            f"{label}: {n} rows" for n in broadcast_rows(run) if n > MAX_CLUSTERS
        ]
    return {kind: sorted(set(items)) for kind, items in found.items()}


@pytest.fixture(scope="module")
def event_runs(tmp_path_factory: pytest.TempPathFactory) -> dict[int, dict[str, Any]]:
    workdir = tmp_path_factory.mktemp("plans")
    path = os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")])
    env = {**os.environ, "PYTHONPATH": path}
    done = subprocess.run(
        [sys.executable, "-m", "tests.plan_run", str(workdir)],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=1800,  # minutes when quiet; the shared 2-core VM at load 40 took 17
    )
    assert done.returncode == 0, done.stderr[-4000:]
    summary = json.loads(done.stdout.strip().splitlines()[-1])
    for counts in summary["counts"].values():
        # the runs did cut rows at every stage, so every removal path was planned and ran
        assert counts["semdedup"] > MAX_CLUSTERS and counts["clip_score"] > MAX_CLUSTERS
        assert counts["dbp"] > MAX_CLUSTERS and counts["input"] == summary["rows"]
    return read_event_log(workdir / "events")


def pipeline_runs(runs: dict[int, dict[str, Any]]) -> dict[int, dict[str, Any]]:
    return {i: r for i, r in runs.items() if r["description"] != CONTROL}


def test_the_checks_catch_the_control_query(event_runs: dict[int, dict[str, Any]]) -> None:
    control = {i: r for i, r in event_runs.items() if r["description"] == CONTROL}
    assert control, "the control query is missing from the event log"
    found = violations(control)
    assert found["single_partition"] and found["broadcast"], found


def test_no_window_or_sort_over_all_rows_in_one_partition(
    event_runs: dict[int, dict[str, Any]],
) -> None:
    runs = pipeline_runs(event_runs)
    assert len(runs) > 20  # the whole pipelines' queries were logged
    assert violations(runs)["single_partition"] == []


def test_no_row_sized_broadcast(event_runs: dict[int, dict[str, Any]]) -> None:
    assert violations(pipeline_runs(event_runs))["broadcast"] == []
