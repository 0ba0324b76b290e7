"""Ctrl-C while Spark works: PySpark's SIGINT handler (installed with the SparkContext)
cancels the running jobs and raises ``KeyboardInterrupt``; when that lands inside a Py4J call
the command sees a Spark or Py4J error instead. The CLI still reports it as "interrupted"
(exit 130, which schedulers treat apart from a failure) by noting that the signal came."""

from __future__ import annotations

import signal
import threading
from types import FrameType
from typing import Any


class InterruptWatch:
    def __init__(self) -> None:
        self._seen = threading.Event()
        self._installed: Any = None  # the handler this watch installed

    @property
    def seen(self) -> bool:
        return self._seen.is_set()

    def clear(self) -> None:
        self._seen.clear()

    def watch(self) -> None:
        """Note SIGINT, then pass it to the handler in place now (PySpark's, or Python's);
        only from the main thread, and never wrapped twice."""
        previous = signal.getsignal(signal.SIGINT)
        if threading.current_thread() is not threading.main_thread():
            return
        if previous is self._installed and previous is not None:
            return

        def noted(signum: int, frame: FrameType | None) -> None:
            self._seen.set()
            if callable(previous):
                previous(signum, frame)
            elif previous != signal.SIG_IGN:  # an ignored Ctrl-C stays ignored
                raise KeyboardInterrupt

        self._installed = noted
        signal.signal(signal.SIGINT, noted)


INTERRUPTS = InterruptWatch()
