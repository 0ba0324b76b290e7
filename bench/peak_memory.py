"""Peak RSS of a benchmark's processes, shared by the benchmark scripts in this folder."""

from __future__ import annotations

import threading
import time

import psutil


class PeakMemory:
    """Polls every 0.2 s: this process, the JVM child and the sum of the JVM's Python workers.

    ``peak`` holds the highest RSS seen, in bytes, under ``driver_python``, ``jvm`` and
    ``python_workers`` (each child process counted in one of the last two).
    """

    def __init__(self) -> None:
        self.peak = {"driver_python": 0, "jvm": 0, "python_workers": 0}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._poll, daemon=True)

    def __enter__(self) -> PeakMemory:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()

    def _sample(self, me: psutil.Process) -> dict[str, int]:
        now = {"driver_python": me.memory_info().rss, "jvm": 0, "python_workers": 0}
        for child in me.children(recursive=True):
            try:
                name = "jvm" if "java" in child.name() else "python_workers"
                now[name] += child.memory_info().rss
            except psutil.Error:
                continue
        return now

    def _poll(self) -> None:
        me = psutil.Process()
        while not self._stop.is_set():
            for key, value in self._sample(me).items():
                self.peak[key] = max(self.peak[key], value)
            time.sleep(0.2)
