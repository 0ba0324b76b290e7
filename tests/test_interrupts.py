"""Ctrl-C that lands inside a Py4J call still ends the CLI as "interrupted" (exit 130)."""

from __future__ import annotations

import os
import signal
from collections.abc import Iterator
from types import FrameType

import pytest

from spark_prune import cli
from spark_prune.errors import InputError
from spark_prune.interrupts import INTERRUPTS, InterruptWatch


@pytest.fixture
def restored_sigint() -> Iterator[None]:
    original = signal.getsignal(signal.SIGINT)
    yield
    signal.signal(signal.SIGINT, original)
    INTERRUPTS.clear()


def test_the_signal_is_noted_then_passed_on_and_never_wrapped_twice(restored_sigint: None) -> None:
    calls: list[int] = []

    def pyspark_like(signum: int, frame: FrameType | None) -> None:
        calls.append(signum)  # PySpark's handler cancels the jobs here

    signal.signal(signal.SIGINT, pyspark_like)
    watch = InterruptWatch()
    watch.watch()
    installed = signal.getsignal(signal.SIGINT)
    watch.watch()  # a second session in the same process
    assert signal.getsignal(signal.SIGINT) is installed
    assert not watch.seen
    os.kill(os.getpid(), signal.SIGINT)
    assert watch.seen and calls == [signal.SIGINT]
    watch.clear()
    assert not watch.seen
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # started with Ctrl-C ignored (a script's &)
    ignoring = InterruptWatch()
    ignoring.watch()
    os.kill(os.getpid(), signal.SIGINT)  # stays ignored: no KeyboardInterrupt
    assert ignoring.seen


def test_an_error_after_ctrl_c_exits_130(
    restored_sigint: None, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    def interrupted_mid_call(args: object) -> int:
        INTERRUPTS._seen.set()  # what the handler does when Ctrl-C arrives
        raise RuntimeError("An error occurred while calling o763.save")  # Py4J's echo of it

    monkeypatch.setattr(cli, "_dispatch", interrupted_mid_call)
    assert cli.main(["sql", "--run", "/nowhere", "SELECT 1"]) == 130
    assert capsys.readouterr().err.strip().splitlines()[-1] == "spark-prune: error: interrupted"

    def input_cancelled(args: object) -> int:
        INTERRUPTS._seen.set()
        raise InputError("input.path '/lake/t' cannot be read: Job 3 cancelled")

    monkeypatch.setattr(cli, "_dispatch", input_cancelled)  # a Spark error wrapped as ours
    assert cli.main(["sql", "--run", "/nowhere", "SELECT 1"]) == 130
    monkeypatch.setattr(cli, "_dispatch", lambda args: 0)
    assert cli.main(["sql", "--run", "/nowhere", "SELECT 1"]) == 0 and not INTERRUPTS.seen
