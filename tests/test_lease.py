"""The output lease: one run at a time, fail fast naming the holder, take over a dead one."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
from pyspark.sql import SparkSession

from spark_prune.errors import RunBusyError
from spark_prune.lease import LEASE_FILE, STALE_SECONDS, acquire, stale_reason


def _holder(tmp_path: Path, **fields: object) -> None:
    base = {"run_id": "old-run", "host": "elsewhere", "pid": 1, "started": "2026-01-01T00:00:00",
            "heartbeat": time.time(), "token": "t0"}  # fmt: skip
    (tmp_path / LEASE_FILE).write_text(json.dumps({**base, **fields}))


def test_second_run_fails_fast_naming_the_first(tmp_path: Path) -> None:
    first = acquire(None, str(tmp_path), "run-a")
    with pytest.raises(RunBusyError, match=r"in use by run 'run-a' \(host .*, pid \d+"):
        acquire(None, str(tmp_path), "run-b")
    first.release()
    assert not (tmp_path / LEASE_FILE).exists()
    with acquire(None, str(tmp_path), "run-b") as second:
        assert json.loads((tmp_path / LEASE_FILE).read_text())["run_id"] == "run-b"
        assert second.holder["run_id"] == "run-b"
    assert not (tmp_path / LEASE_FILE).exists()


def test_dead_process_on_this_host_is_taken_over(tmp_path: Path) -> None:
    import socket

    done = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"],
                          capture_output=True, text=True, check=True)  # fmt: skip
    _holder(tmp_path, host=socket.gethostname(), pid=int(done.stdout))
    with acquire(None, str(tmp_path), "run-b") as lease:
        assert lease.holder["run_id"] == "run-b"
        assert not list(tmp_path.glob(f"{LEASE_FILE}.stale.*"))


def test_other_host_is_busy_until_its_heartbeat_is_stale(tmp_path: Path) -> None:
    _holder(tmp_path, heartbeat=time.time() - 5)
    with pytest.raises(RunBusyError, match="'old-run'"):
        acquire(None, str(tmp_path), "run-b")
    _holder(tmp_path, heartbeat=time.time() - STALE_SECONDS - 5)
    assert "no heartbeat" in (stale_reason(json.loads((tmp_path / LEASE_FILE).read_text())) or "")
    with acquire(None, str(tmp_path), "run-b") as lease:
        assert lease.holder["token"] != "t0"


def test_release_never_removes_someone_elses_lease(tmp_path: Path) -> None:
    lease = acquire(None, str(tmp_path), "run-a")
    _holder(tmp_path, run_id="run-c", token="other")  # taken over meanwhile
    lease.release()
    assert json.loads((tmp_path / LEASE_FILE).read_text())["run_id"] == "run-c"


def test_heartbeat_refreshes_the_file(tmp_path: Path) -> None:
    lease = acquire(None, str(tmp_path), "run-a", heartbeat=0.05)
    first = json.loads((tmp_path / LEASE_FILE).read_text())["heartbeat"]
    deadline = time.monotonic() + 30  # a loaded machine may starve the thread for a while
    while json.loads((tmp_path / LEASE_FILE).read_text())["heartbeat"] <= first:
        assert time.monotonic() < deadline, "the heartbeat never refreshed the lease file"
        time.sleep(0.05)
    lease.release()


def test_a_holder_that_lost_its_lease_stops_beating_and_publishing(tmp_path: Path) -> None:
    """A stalled run whose lease was taken over must not overwrite the new holder's lease
    (before, its heartbeat did, and two runs wrote one output)."""
    lease = acquire(None, str(tmp_path), "run-a", heartbeat=0.05)
    lease.ensure_held()  # held: nothing to say
    _holder(tmp_path, run_id="run-b", token="other")  # run-b took it over meanwhile
    deadline = time.monotonic() + 30
    while lease.lost_to is None:
        assert time.monotonic() < deadline, "the heartbeat never noticed the takeover"
        time.sleep(0.05)
    time.sleep(0.3)  # several heartbeat periods: none may rewrite the file
    assert json.loads((tmp_path / LEASE_FILE).read_text())["token"] == "other"
    with pytest.raises(RunBusyError, match=r"^run 'run-a' lost the lease of .* to run 'run-b'"):
        lease.ensure_held()
    lease.release()
    assert json.loads((tmp_path / LEASE_FILE).read_text())["run_id"] == "run-b"


def test_a_lease_file_that_is_not_a_lease_is_named_then_taken_over(tmp_path: Path) -> None:
    """An empty or cut-short ``_lease.json`` (a crash or a full disk between create and
    write) blocked the output for ever with 'in use by run None'."""
    (tmp_path / LEASE_FILE).write_text("")
    with pytest.raises(RunBusyError, match=r"its lease file _lease.json is not a readable lease"):
        acquire(None, str(tmp_path), "run-b")
    old = time.time() - STALE_SECONDS - 5
    os.utime(tmp_path / LEASE_FILE, (old, old))
    with acquire(None, str(tmp_path), "run-b") as lease:
        assert json.loads((tmp_path / LEASE_FILE).read_text())["token"] == lease.holder["token"]


def test_ensure_held_reads_the_file_now_and_a_deleted_file_is_written_again(
    tmp_path: Path,
) -> None:
    lease = acquire(None, str(tmp_path), "run-a", heartbeat=3600)  # no beat during the test
    (tmp_path / LEASE_FILE).unlink()  # deleted by hand
    lease.ensure_held()
    assert json.loads((tmp_path / LEASE_FILE).read_text())["token"] == lease.holder["token"]
    _holder(tmp_path, run_id="run-b", token="other")
    with pytest.raises(RunBusyError, match="to run 'run-b'"):
        lease.ensure_held()  # at once: not only after a heartbeat noticed it
    lease.release()


def test_a_run_that_lost_its_lease_writes_no_result(
    spark: SparkSession, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from spark_prune import pipeline
    from tests.helpers import embedding_rows, make_config, write_input

    ids, x = embedding_rows(60, 8, 3, seed=2)
    source = write_input(spark, tmp_path / "in", ids, x)
    out = tmp_path / "out"
    taken = pipeline.acquire

    def taken_over_at_once(*args: object, **kwargs: object) -> object:
        lease = taken(*args, **kwargs)  # type: ignore[arg-type]
        _holder(out, run_id="run-b", token="other")  # a run that thought this one dead
        return lease

    monkeypatch.setattr(pipeline, "acquire", taken_over_at_once)
    with pytest.raises(RunBusyError, match="lost the lease"):
        pipeline.run(spark, make_config(source, str(out)))
    assert not (out / "manifest.json").exists() and not (out / "decisions").exists()
    assert json.loads((out / LEASE_FILE).read_text())["run_id"] == "run-b"
