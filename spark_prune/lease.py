"""One run at a time per output location: a lease file ``<output>/_lease.json``.

A run takes the lease before it reads anything and gives it back when it ends (published or
failed). A second run into the same output fails fast, before any work, with a
``RunBusyError`` naming the run that holds it (run id, host, pid, since when).

* **Taking it is atomic.** Locally the file is created with ``O_CREAT | O_EXCL``; through
  Hadoop's FileSystem (s3a://, abfss://, dbfs:/) with ``create(overwrite=false)``, which is
  atomic on HDFS, ABFS and DBFS and, on S3, only as atomic as the store's conditional put.
* **A live holder keeps it fresh.** A daemon thread rewrites the file every
  ``HEARTBEAT_SECONDS`` (the ``heartbeat`` field).
* **Takeover rule for a dead holder.** The lease is stale, and the next run takes it over, when
  its holder is on this host and its process is gone (a killed run: taken over at once), or
  when its heartbeat is older than ``STALE_SECONDS`` (a holder on another host that died).
  The stale file is first renamed aside (only one contender's rename succeeds), then taken.

Readers (``sql``, ``report``) take no lease: they read the published manifest's versions.
"""

from __future__ import annotations

import json
import logging
import os
import socket
import threading
import time
import uuid
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any

from pyspark.sql import SparkSession

from spark_prune.errors import RunBusyError
from spark_prune.lake import hadoop_file, is_local_path, local_path

log = logging.getLogger(__name__)

LEASE_FILE = "_lease.json"
HEARTBEAT_SECONDS = 30.0
STALE_SECONDS = 300.0


@dataclass
class Lease:
    """A held lease; ``release()`` (or leaving the ``with`` block) gives it back."""

    spark: SparkSession | None
    path: str
    holder: dict[str, Any]
    _stop: threading.Event = field(default_factory=threading.Event)
    _thread: threading.Thread | None = None
    lost_to: dict[str, Any] | None = None  # the lease as found when another run had taken it

    def __enter__(self) -> Lease:
        return self

    def __exit__(self, *exc: object) -> None:
        self.release()

    def start_heartbeat(self, every: float = HEARTBEAT_SECONDS) -> None:
        def beat() -> None:
            while not self._stop.wait(every):
                try:
                    if not self._still_ours():
                        return
                    self.holder["heartbeat"] = time.time()
                    store_for(self.spark, self.path).overwrite(self.path, _dump(self.holder))
                except Exception as exc:  # keep running; a stale lease is only taken over later
                    log.warning("lease heartbeat failed: %s", exc)

        self._thread = threading.Thread(target=beat, name="spark_prune-lease", daemon=True)
        self._thread.start()

    def _still_ours(self) -> bool:
        """False, once another run took the lease over (this one stalled past
        ``STALE_SECONDS``): the heartbeat then stops rather than overwrite the new holder's
        lease. A lease file that vanished (deleted by hand) is created again."""
        if self.lost_to is not None:
            return False
        store = store_for(self.spark, self.path)
        current = store.read(self.path)
        if current is None and store.create_new(self.path, _dump(self.holder)):
            log.warning("the lease file %s was gone; run %s wrote it again", self.path,
                        self.holder["run_id"])  # fmt: skip
            return True
        current = current if current is not None else store.read(self.path)
        if current is not None and current.get("token") == self.holder["token"]:
            return True
        self.lost_to = current or {}
        log.error("run %s lost the lease of %s to run %s; it publishes nothing more",
                  self.holder["run_id"], self.path, self.lost_to.get("run_id"))  # fmt: skip
        return False

    def ensure_held(self) -> None:
        """Raise ``RunBusyError`` when another run took the lease over (checked in the file
        now, not only by the heartbeat): this run must not write over that run's results."""
        if self._still_ours():
            return
        taker = self.lost_to or {}
        raise RunBusyError(
            f"run {self.holder['run_id']!r} lost the lease of {self.path!r} to run "
            f"{taker.get('run_id')!r} (host {taker.get('host')}, pid {taker.get('pid')}) "
            f"after its heartbeat stopped for over {int(STALE_SECONDS)} s (a stalled "
            f"process?); it stopped before writing more: rerun it once that run has finished"
        )

    def release(self) -> None:
        self._stop.set()
        store = store_for(self.spark, self.path)
        current = store.read(self.path)
        if current is not None and current.get("token") == self.holder["token"]:
            store.delete(self.path)


def acquire(
    spark: SparkSession | None, output_path: str, run_id: str, heartbeat: float = HEARTBEAT_SECONDS
) -> Lease:
    """Take the output's lease for ``run_id`` or raise ``RunBusyError`` naming the holder."""
    path = f"{output_path.rstrip('/')}/{LEASE_FILE}"
    store = store_for(spark, path)
    holder = {
        "run_id": run_id,
        "host": socket.gethostname(),
        "pid": os.getpid(),
        "started": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "heartbeat": time.time(),
        "token": uuid.uuid4().hex,
    }
    for _ in range(3):
        if store.create_new(path, _dump(holder)):
            lease = Lease(spark, path, holder)
            lease.start_heartbeat(heartbeat)
            return lease
        current = store.read(path)
        if current is None:
            continue  # released meanwhile: try again
        reason = stale_reason(current)
        if reason is None:
            raise RunBusyError(busy_message(output_path, current))
        if store.take_aside(path, current):
            log.warning(
                "taking over the lease of run %s on %s: %s", current.get("run_id"), output_path,
                reason,
            )  # fmt: skip
    current = store.read(path) or {}
    raise RunBusyError(busy_message(output_path, current))


def check_free(spark: SparkSession | None, output_path: str) -> None:
    """Raise ``RunBusyError`` when a live run holds the lease (a peek: takes nothing)."""
    current = store_for(spark, f"{output_path.rstrip('/')}/{LEASE_FILE}").read(
        f"{output_path.rstrip('/')}/{LEASE_FILE}"
    )
    if current is not None and stale_reason(current) is None:
        raise RunBusyError(busy_message(output_path, current))


def lease_dir(output_path: str | None, manifest_path: str | None) -> str:
    """Where a run's lease lives: its output path, else the manifest's directory."""
    if output_path:
        return output_path
    assert manifest_path, "an output needs output.path or output.manifest_path"
    return manifest_path.rsplit("/", 1)[0]


def busy_message(output_path: str, holder: dict[str, Any]) -> str:
    if holder.get("unreadable"):
        age = int(time.time() - float(holder.get("heartbeat") or 0))
        return (
            f"output.path {output_path!r}: its lease file {LEASE_FILE} is not a readable lease "
            f"(written {age} s ago; a run may be creating it this instant); if no run is using "
            f"this output, delete the file, or wait: it is taken over {int(STALE_SECONDS)} s "
            f"after it was written"
        )
    return (
        f"output.path {output_path!r} is in use by run {holder.get('run_id')!r} "
        f"(host {holder.get('host')}, pid {holder.get('pid')}, since {holder.get('started')}); "
        f"wait for it to finish, or choose another output.path (a dead run's lease is taken "
        f"over automatically: at once on the same host, after {int(STALE_SECONDS)} s elsewhere)"
    )


def stale_reason(holder: dict[str, Any], now: float | None = None) -> str | None:
    """Why the holder is dead, or None while it may be alive."""
    now = time.time() if now is None else now
    if holder.get("host") == socket.gethostname() and not _alive(int(holder.get("pid") or -1)):
        return f"its process {holder.get('pid')} on this host is gone"
    age = now - float(holder.get("heartbeat") or 0)
    if age > STALE_SECONDS:
        return f"no heartbeat for {int(age)} s"
    return None


def _alive(pid: int) -> bool:
    if pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return not _zombie(pid)


def _zombie(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().split(")")[-1].split()[0] == "Z"
    except OSError:
        return False


def _dump(holder: dict[str, Any]) -> str:
    return json.dumps(holder, sort_keys=True)


def _parsed(text: str, written: float) -> dict[str, Any]:
    """The lease's fields; a file that is not a lease (empty or cut short by a crash or a full
    disk, or being written this instant) counts as one whose heartbeat is its write time, so
    it is taken over once that is ``STALE_SECONDS`` old."""
    try:
        holder = json.loads(text)
    except json.JSONDecodeError:
        holder = None
    if isinstance(holder, dict):
        return holder
    return {"unreadable": True, "heartbeat": written}


class _LocalStore:
    def create_new(self, path: str, text: str) -> bool:
        target = local_path(path)
        target.parent.mkdir(parents=True, exist_ok=True)
        try:
            fd = os.open(target, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
        except FileExistsError:
            return False
        with os.fdopen(fd, "w") as f:
            f.write(text)
        return True

    def overwrite(self, path: str, text: str) -> None:
        target = local_path(path)
        tmp = target.with_name(f"{target.name}.{uuid.uuid4().hex}.tmp")
        tmp.write_text(text)
        tmp.replace(target)

    def read(self, path: str) -> dict[str, Any] | None:
        target = local_path(path)
        try:
            text, written = target.read_text(), target.stat().st_mtime
        except OSError:
            return None  # gone, or under a file (checked later)
        return _parsed(text, written)

    def delete(self, path: str) -> None:
        local_path(path).unlink(missing_ok=True)

    def take_aside(self, path: str, seen: dict[str, Any]) -> bool:
        """Rename the stale lease away; False if someone else got there first."""
        target = local_path(path)
        aside = target.with_name(f"{target.name}.stale.{uuid.uuid4().hex}")
        try:
            target.rename(aside)
        except FileNotFoundError:
            return False
        moved = self.read(str(aside))
        if moved is not None and moved.get("token") != seen.get("token"):
            aside.rename(target)  # a fresh lease slipped in: put it back untouched
            return False
        aside.unlink(missing_ok=True)
        return True


class _HadoopStore:
    def __init__(self, spark: SparkSession) -> None:
        self._spark = spark

    def _fs(self, path: str) -> tuple[Any, Any]:
        return hadoop_file(self._spark, path)

    def _write(self, path: str, text: str, overwrite: bool) -> None:
        fs, p = self._fs(path)
        stream = fs.create(p, overwrite)
        try:
            stream.write(bytearray(text.encode("utf-8")))
        finally:
            stream.close()

    def create_new(self, path: str, text: str) -> bool:
        try:
            self._write(path, text, overwrite=False)
        except Exception as exc:
            if "FileAlreadyExists" in type(exc).__name__ or "already exists" in str(exc):
                return False
            raise
        return True

    def overwrite(self, path: str, text: str) -> None:
        self._write(path, text, overwrite=True)

    def read(self, path: str) -> dict[str, Any] | None:
        fs, p = self._fs(path)
        if not fs.exists(p):
            return None
        written = fs.getFileStatus(p).getModificationTime() / 1000.0
        stream = fs.open(p)
        try:
            jvm: Any = self._spark.sparkContext._jvm
            data = jvm.org.apache.commons.io.IOUtils.toString(stream, "UTF-8")
        finally:
            stream.close()
        return _parsed(data, written)

    def delete(self, path: str) -> None:
        fs, p = self._fs(path)
        fs.delete(p, False)

    def take_aside(self, path: str, seen: dict[str, Any]) -> bool:
        fs, p = self._fs(path)
        _, aside = self._fs(f"{path}.stale.{uuid.uuid4().hex}")
        if not fs.rename(p, aside):
            return False
        fs.delete(aside, False)
        return True


def store_for(spark: SparkSession | None, path: str) -> _LocalStore | _HadoopStore:
    """Local files directly; anything else through Hadoop's FileSystem (needs ``spark``)."""
    if is_local_path(path):
        return _LocalStore()
    if spark is None:
        raise ValueError(f"a Spark session is needed for the lease on {path!r}")
    return _HadoopStore(spark)
