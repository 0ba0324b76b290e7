"""How the session builder tells a spark-submit launch from a plain Python run."""

from __future__ import annotations

import pytest

from spark_prune.session import _launched_by_spark_submit


def test_plain_python_with_submit_args_is_not_spark_submit(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("PYSPARK_GATEWAY_PORT", raising=False)
    args = "--packages io.delta:delta-spark_2.13:4.0.1 pyspark-shell"
    monkeypatch.setenv("PYSPARK_SUBMIT_ARGS", args)
    monkeypatch.setenv("SPARK_ENV_LOADED", "1")
    assert not _launched_by_spark_submit()


def test_driver_started_by_the_jvm_is_spark_submit(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PYSPARK_GATEWAY_PORT", "40123")
    assert _launched_by_spark_submit()
