"""Real Spark daemons for the cluster-manager tests: a standalone master with workers, and a
Spark Connect server, started from the pyspark distribution and always torn down.

Every daemon binds to 127.0.0.1 on ports picked free at start, runs in its own process group
(so that stopping it also stops the JVM that ``spark-class`` or ``spark-submit`` execs or forks)
and writes its log and work files under a temp dir that the test owns.
"""

from __future__ import annotations

import ctypes
import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pyspark

from spark_prune.session import DELTA_CATALOG, DELTA_EXTENSION

SPARK_HOME = Path(pyspark.__file__).resolve().parent
DELTA_PACKAGE = "io.delta:delta-spark_2.13:4.0.1"
DELTA_CONF = {
    "spark.sql.extensions": DELTA_EXTENSION,
    "spark.sql.catalog.spark_catalog": DELTA_CATALOG,
}
# Spark resolves --packages through Ivy at JVM start; a cold cache downloads the jars.
START_TIMEOUT_S = 300.0
STOP_TIMEOUT_S = 20.0


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def conf_args(conf: Mapping[str, str]) -> list[str]:
    return [arg for key, value in conf.items() for arg in ("--conf", f"{key}={value}")]


def daemon_env(home: Path, **extra: str) -> dict[str, str]:
    """This environment minus PYTHONPATH (daemons must not see the test's import path), with
    Python set to this interpreter, Spark bound to 127.0.0.1, and scratch dirs under ``home``."""
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "SPARK_REMOTE")}
    env.update(
        SPARK_HOME=str(SPARK_HOME),
        SPARK_LOCAL_IP="127.0.0.1",
        SPARK_LOCAL_DIRS=str(home / "local"),
        SPARK_LOG_DIR=str(home / "logs"),
        SPARK_PID_DIR=str(home / "pids"),
        PYSPARK_PYTHON=sys.executable,
        PYSPARK_DRIVER_PYTHON=sys.executable,
    )
    env.update(extra)
    return env


@dataclass
class Daemon:
    name: str
    process: subprocess.Popen[bytes]
    log: Path

    def tail(self, chars: int = 4000) -> str:
        text = self.log.read_text(errors="replace") if self.log.exists() else ""
        return f"--- {self.name} ({self.log}) ---\n{text[-chars:]}"

    def alive(self) -> bool:
        return self.process.poll() is None

    def stop(self) -> None:
        """SIGTERM the whole process group, then SIGKILL what is left after a grace period."""
        for sig, wait_s in ((signal.SIGTERM, STOP_TIMEOUT_S), (signal.SIGKILL, 5.0)):
            try:
                os.killpg(self.process.pid, sig)
            except ProcessLookupError:
                break
            try:
                self.process.wait(timeout=wait_s)
            except subprocess.TimeoutExpired:
                continue
            if not _group_alive(self.process.pid):
                break


def _group_alive(pgid: int) -> bool:
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return False
    return True


PR_SET_PDEATHSIG = 1


def _die_with_parent() -> None:
    """In the child before exec: SIGKILL when the test process dies, even if it is killed
    before its finalizers run (``spark-class`` and ``spark-submit`` exec the JVM, which keeps
    this setting)."""
    ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGKILL)


def start_daemon(name: str, command: Sequence[str], home: Path, env: Mapping[str, str]) -> Daemon:
    (home / "logs").mkdir(parents=True, exist_ok=True)
    log = home / "logs" / f"{name}.log"
    with log.open("wb") as out:
        process = subprocess.Popen(
            list(command),
            stdout=out,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            env=dict(env),
            cwd=home,
            start_new_session=True,
            preexec_fn=_die_with_parent if sys.platform == "linux" else None,
        )
    return Daemon(name, process, log)


def wait_until(
    ready: Callable[[], bool],
    what: str,
    daemons: Sequence[Daemon],
    timeout_s: float = START_TIMEOUT_S,
) -> None:
    """Poll ``ready`` until it holds; fail early, with the daemons' logs, if one of them died."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if ready():
            return
        dead = [d for d in daemons if not d.alive()]
        if dead:
            raise RuntimeError(f"{what}: a daemon exited\n" + "\n".join(d.tail() for d in dead))
        time.sleep(1.0)
    raise TimeoutError(
        f"{what}: not ready after {timeout_s:.0f}s\n" + "\n".join(d.tail() for d in daemons)
    )


def master_state(webui_port: int) -> dict[str, Any]:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{webui_port}/json", timeout=5) as reply:
            return dict(json.load(reply))
    except OSError:
        return {}


def alive_workers(webui_port: int) -> int:
    workers = master_state(webui_port).get("workers", [])
    return sum(1 for w in workers if w.get("state") == "ALIVE")


@dataclass(frozen=True)
class Standalone:
    url: str
    webui_port: int
    daemons: tuple[Daemon, ...]


@contextmanager
def standalone_cluster(home: Path, workers: int = 2, cores: int = 1) -> Iterator[Standalone]:
    """A standalone master and ``workers`` workers of ``cores`` cores and 1g each."""
    spark_class = str(SPARK_HOME / "bin" / "spark-class")
    port, webui = free_port(), free_port()
    url = f"spark://127.0.0.1:{port}"
    env = daemon_env(home)
    with ExitStack() as stack:
        daemons: list[Daemon] = []

        def launch(name: str, command: list[str]) -> None:
            daemon = start_daemon(name, command, home, env)
            stack.callback(daemon.stop)
            daemons.append(daemon)

        launch(
            "master",
            [
                spark_class,
                "org.apache.spark.deploy.master.Master",
                "--host",
                "127.0.0.1",
                "--port",
                str(port),
                "--webui-port",
                str(webui),
            ],
        )
        wait_until(lambda: bool(master_state(webui)), "standalone master", daemons)
        for i in range(workers):
            work_dir = home / f"worker{i}"
            work_dir.mkdir(parents=True, exist_ok=True)
            launch(
                f"worker{i}",
                [
                    spark_class,
                    "org.apache.spark.deploy.worker.Worker",
                    url,
                    "--host",
                    "127.0.0.1",
                    "--port",
                    str(free_port()),
                    "--webui-port",
                    str(free_port()),
                    "--cores",
                    str(cores),
                    "--memory",
                    "1g",
                    "--work-dir",
                    str(work_dir),
                ],
            )
        wait_until(lambda: alive_workers(webui) == workers, f"{workers} workers", daemons)
        yield Standalone(url, webui, tuple(daemons))


@dataclass(frozen=True)
class ConnectServer:
    url: str
    daemon: Daemon


def connect_server_command(port: int, master: str, conf: Mapping[str, str]) -> list[str]:
    return [
        str(SPARK_HOME / "bin" / "spark-submit"),
        "--class",
        "org.apache.spark.sql.connect.service.SparkConnectServer",
        "--name",
        "spark_prune Connect server",
        "--master",
        master,
        "--packages",
        DELTA_PACKAGE,
        *conf_args(
            {
                **DELTA_CONF,
                "spark.connect.grpc.binding.address": "127.0.0.1",
                "spark.connect.grpc.binding.port": str(port),
                "spark.driver.host": "127.0.0.1",
                "spark.driver.bindAddress": "127.0.0.1",
                "spark.ui.enabled": "false",
                **conf,
            }
        ),
    ]


def port_open(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.settimeout(1.0)
        return probe.connect_ex(("127.0.0.1", port)) == 0


@contextmanager
def connect_server(
    home: Path, python_path: str, master: str = "local[2]", conf: Mapping[str, str] | None = None
) -> Iterator[ConnectServer]:
    """A Spark Connect server (the connect jar ships in pyspark's jars/) with Delta; its Python
    workers import ``spark_prune`` from ``python_path``."""
    port = free_port()
    env = daemon_env(home, PYTHONPATH=python_path)
    daemon = start_daemon("connect", connect_server_command(port, master, conf or {}), home, env)
    try:
        wait_until(lambda: port_open(port), "Spark Connect server", [daemon])
        yield ConnectServer(f"sc://127.0.0.1:{port}", daemon)
    finally:
        daemon.stop()


def run_process(
    command: Sequence[str], env: Mapping[str, str], cwd: Path, timeout_s: float
) -> subprocess.CompletedProcess[str]:
    """``subprocess.run`` for a Spark driver: its own process group, killed with everything it
    started on a timeout, and SIGKILLed if the test process dies first."""
    process = subprocess.Popen(
        list(command),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        stdin=subprocess.DEVNULL,
        env=dict(env),
        cwd=cwd,
        text=True,
        start_new_session=True,
        preexec_fn=_die_with_parent if sys.platform == "linux" else None,
    )
    try:
        out, err = process.communicate(timeout=timeout_s)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        out, err = process.communicate()
        err += f"\n[killed after {timeout_s:.0f}s]"
    return subprocess.CompletedProcess(list(command), process.returncode, out, err)
