"""Faults: kill -9 of the CLI and its JVM mid-run, then rerun; two runs into one output.

One scenario on tiny data (module fixture), in order:

1. ``old``: an uninterrupted run (in process) of the command under test, into the output
   the killed runs then overwrite.
2. A real ``spark-prune run`` process is killed (SIGKILL to its process group: the Python
   driver, its JVM and the Python workers) as SemDeDup starts.
3. A rerun process takes over the dead run's lease; while it runs, a second process into the
   same output is refused at once, naming it; it is killed as DBP starts.
4. A rerun process resumes SemDeDup and is killed between two table writes.
5. After every kill the output still reads as the old run, consistently.
6. A last rerun (in process) resumes every stage and equals the old run.
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pytest
from pyspark.sql import SparkSession

from spark_prune.cli import main
from spark_prune.core.vectors import l2_normalize
from tests.helpers import embedding_rows, write_input

pytestmark = pytest.mark.slow  # run first under xdist (tests/conftest.py)

ROOT = Path(__file__).resolve().parents[1]
KILL_TIMEOUT = 400


@dataclass
class Scenario:
    out: Path
    old_run_id: str
    old: dict[str, object]  # what readers saw of the old run before any kill
    logs: dict[str, str] = field(default_factory=dict)
    codes: dict[str, int | None] = field(default_factory=dict)
    reads_after_kill: dict[str, dict[str, object]] = field(default_factory=dict)


def _input(spark: SparkSession, path: Path) -> str:
    ids, x = embedding_rows(300, 8, 4, seed=3)
    rng = np.random.default_rng(3)
    src = rng.choice(len(ids), 40, replace=False)
    copies = l2_normalize(x[src] + rng.normal(0, 0.002, (40, 8)).astype(np.float32))
    return write_input(spark, path, np.concatenate([ids, 1000 + np.arange(40)]),
                       np.concatenate([x, copies]))  # fmt: skip


def _argv(table: str, out: Path, *extra: str) -> list[str]:
    sets = [f"input.path={table}", f"output.path={out}", "output.mode=overwrite",
            "semdedup.enabled=true", "semdedup.eps=0.01", "semdedup.kmeans.k=4",
            "semdedup.kmeans.iterations=5", "dbp.kmeans.k=4", "dbp.kmeans.iterations=5",
            "spark.master=local[1]", *extra]  # fmt: skip
    argv = ["run"]
    for item in sets:
        argv += ["--set", item]
    return argv


def _start(argv: list[str], log: Path) -> subprocess.Popen[bytes]:
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    with open(log, "wb") as sink:
        return subprocess.Popen([sys.executable, "-m", "spark_prune.cli", *argv], cwd=ROOT,
                                env=env, stdout=sink, stderr=subprocess.STDOUT,
                                start_new_session=True)  # fmt: skip


def _kill_when(proc: subprocess.Popen[bytes], log: Path, pattern: str) -> str:
    """SIGKILL the process group (driver, JVM, workers) once ``pattern`` is in the log."""
    deadline = time.monotonic() + KILL_TIMEOUT
    while time.monotonic() < deadline:
        text = log.read_text(errors="replace")
        if re.search(pattern, text):
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
            return text
        if proc.poll() is not None:
            pytest.fail(f"run ended (rc {proc.returncode}) before {pattern!r}:\n{text[-3000:]}")
        time.sleep(0.2)
    os.killpg(proc.pid, signal.SIGKILL)
    pytest.fail(f"{pattern!r} never appeared:\n{log.read_text(errors='replace')[-3000:]}")


def _read_run(spark: SparkSession, out: Path) -> dict[str, object]:
    """What readers see: the manifest's run id, counts and its tables' contents."""
    from spark_prune.runs import open_run

    opened = open_run(spark, str(out))
    doc = opened.manifest
    decisions, pruned = opened.table("decisions"), opened.table("pruned")
    kept = sorted(r["id"] for r in decisions.filter("kept").select("id").collect())
    return {
        "run_id": doc["run_id"],
        "counts": doc["counts"],
        "kept": kept,
        "pruned": sorted(r["id"] for r in pruned.select("id").collect()),
        "rows": decisions.count(),
    }


@pytest.fixture(scope="module")
def scenario(spark: SparkSession, tmp_path_factory: pytest.TempPathFactory) -> Scenario:
    tmp = tmp_path_factory.mktemp("faults")
    table = _input(spark, tmp / "input")
    out = tmp / "out"
    assert main(_argv(table, out)) == 0  # the old run, uninterrupted: the final run must equal it
    old = _read_run(spark, out)
    s = Scenario(out, str(old["run_id"]), old)

    first = _start(_argv(table, out), tmp / "a.log")
    s.logs["a"] = _kill_when(first, tmp / "a.log", r"\] semdedup \.\.\.")
    s.reads_after_kill["a"] = _read_run(spark, out)

    rerun = _start(_argv(table, out), tmp / "b.log")
    _wait_for(tmp / "b.log", r"\] read \.\.\.")  # it holds the output's lease
    refused = subprocess.run([sys.executable, "-m", "spark_prune.cli", *_argv(table, out)],
                             cwd=ROOT, env=dict(os.environ, PYTHONPATH=str(ROOT)),
                             capture_output=True, text=True, timeout=120)  # fmt: skip
    s.codes["second"] = refused.returncode
    s.logs["second"] = refused.stderr
    s.logs["b"] = _kill_when(rerun, tmp / "b.log", r"\] dbp \.\.\.")
    s.reads_after_kill["b"] = _read_run(spark, out)

    rerun = _start(_argv(table, out), tmp / "c.log")
    s.logs["c"] = _kill_when(rerun, tmp / "c.log", r"\] write\.clusters \.\.\.")
    s.reads_after_kill["c"] = _read_run(spark, out)
    return s


def _wait_for(log: Path, pattern: str) -> None:
    deadline = time.monotonic() + KILL_TIMEOUT
    while not re.search(pattern, log.read_text(errors="replace")):
        assert time.monotonic() < deadline, log.read_text(errors="replace")[-3000:]
        time.sleep(0.2)


def test_second_run_is_refused_naming_the_first(scenario: Scenario) -> None:
    assert scenario.codes["second"] == 1, scenario.logs["second"]
    lines = [x for x in scenario.logs["second"].splitlines() if "spark-prune: error:" in x]
    assert len(lines) == 1 and "is in use by run" in lines[0]
    assert "Traceback" not in scenario.logs["second"]


def test_a_killed_overwrite_reads_as_the_old_run(spark: SparkSession, scenario: Scenario) -> None:
    for name, seen in scenario.reads_after_kill.items():
        assert seen["run_id"] == scenario.old_run_id, name
        assert seen["kept"] == seen["pruned"], name  # decisions and pruned of one run
        counts = seen["counts"]
        assert isinstance(counts, dict) and counts["kept"] == len(seen["kept"]), name  # type: ignore[arg-type]


def test_reruns_resume_from_checkpoints(scenario: Scenario) -> None:
    """b was killed when DBP started, so SemDeDup had finished: c resumes it."""
    assert "semdedup: resumed from checkpoint" in scenario.logs["c"]
    assert "dbp: resumed from checkpoint" not in scenario.logs["c"]


def test_final_rerun_resumes_and_equals_an_uninterrupted_run(
    spark: SparkSession, scenario: Scenario, caplog: pytest.LogCaptureFixture
) -> None:
    table = str(scenario.out.parent / "input")
    with caplog.at_level("INFO", logger="spark_prune"):
        assert main(_argv(table, scenario.out)) == 0
    assert "semdedup: resumed from checkpoint" in caplog.text  # c was killed after DBP
    assert "dbp: resumed from checkpoint" in caplog.text
    final, base = _read_run(spark, scenario.out), scenario.old
    assert final["run_id"] != base["run_id"]
    assert final["kept"] == base["kept"] and final["counts"] == base["counts"]
    assert final["pruned"] == final["kept"]
    assert not (scenario.out / "_stages").exists()
    assert not (scenario.out / "_lease.json").exists()
