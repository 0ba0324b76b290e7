"""A Delta-enabled SparkSession: reuse the platform's, or build a local one with the Delta jars."""

from __future__ import annotations

import logging
import os
import sys
from collections.abc import Mapping

from pyspark.sql import SparkSession

log = logging.getLogger(__name__)

DELTA_EXTENSION = "io.delta.sql.DeltaSparkSessionExtension"
DELTA_CATALOG = "org.apache.spark.sql.delta.catalog.DeltaCatalog"

LOCAL_DEFAULTS: dict[str, str] = {
    "spark.sql.shuffle.partitions": "8",
    "spark.default.parallelism": "8",
    "spark.ui.showConsoleProgress": "false",
    "spark.sql.session.timeZone": "UTC",
    "spark.driver.memory": "4g",
    "spark.sql.execution.arrow.pyspark.enabled": "true",
    "spark.databricks.delta.snapshotPartitions": "2",
    "spark.sql.adaptive.enabled": "true",
    "spark.sql.debug.maxToStringFields": "200",  # no "truncated plan" warnings in the log
}


def get_spark(
    app_name: str = "spark_prune",
    master: str | None = None,
    conf: Mapping[str, str] | None = None,
    log_level: str = "WARN",
) -> SparkSession:
    """Return the active SparkSession, or build a local Delta-enabled one.

    On Databricks, EMR or under ``spark-submit`` with Delta on the classpath the active
    session is reused untouched (the platform owns its jars and configs). Under ``spark-submit``
    its ``--master`` wins over ``master`` (a config's ``spark.master``). With ``SPARK_REMOTE``
    set (``sc://host:port``, or ``local[N]`` for a Connect server pyspark starts here with the
    Delta setup below) it is a Spark Connect session to that server. Only when no session
    exists do we build a local one, adding the Delta jars (resolved from Maven Central by Spark's
    own Ivy), the Delta SQL extension and catalog, and ``PYSPARK_PYTHON`` so that workers run
    this interpreter.
    """
    active = SparkSession.getActiveSession()
    if active is not None:
        _apply_runtime_conf(active, conf or {})
        return active
    if connect_url() is not None:
        return _connect_session(app_name, master, conf or {})
    _workers_run_this_python()
    builder = SparkSession.builder.appName(app_name)
    launched_by_submit = _launched_by_spark_submit()
    if launched_by_submit:
        if master is not None:  # a builder master would silently override spark-submit's
            log.info("spark-submit chose the master; ignoring spark.master=%s", master)
        builder = _with_delta(builder, conf or {}, local=False)
    else:
        builder = _with_delta(builder.master(master or "local[*]"), conf or {}, local=True)
    spark = builder.getOrCreate()
    spark.sparkContext.setLogLevel(log_level)
    return spark


def _with_delta(
    builder: SparkSession.Builder, conf: Mapping[str, str], local: bool
) -> SparkSession.Builder:
    """The Delta SQL extension and catalog and the caller's ``conf``; for a JVM this process
    starts (``local``) also the quiet local defaults and the Delta jars."""
    if local:
        for key, value in LOCAL_DEFAULTS.items():
            builder = builder.config(key, value)
    builder = builder.config("spark.sql.extensions", DELTA_EXTENSION).config(
        "spark.sql.catalog.spark_catalog", DELTA_CATALOG
    )
    for key, value in conf.items():
        builder = builder.config(key, value)
    if local and not _delta_jars_configured(conf):
        from delta import configure_spark_with_delta_pip

        builder = configure_spark_with_delta_pip(builder)
    return builder


def connect_url() -> str | None:
    """The Spark Connect server named by ``SPARK_REMOTE`` (e.g. ``sc://host:15002``), if any."""
    return os.environ.get("SPARK_REMOTE") or None


def _connect_session(app_name: str, master: str | None, conf: Mapping[str, str]) -> SparkSession:
    """A Spark Connect session to ``SPARK_REMOTE``: a server (``sc://…``) owns the master, the
    jars and the static configs, so only runtime configs are passed (pyspark ignores the
    others). ``SPARK_REMOTE=local[N]`` makes pyspark start a Connect server in a local JVM,
    which gets the Delta setup of a local session."""
    if master is not None:
        log.info("SPARK_REMOTE chose the server; ignoring spark.master=%s", master)
    builder = SparkSession.builder.appName(app_name)
    if str(connect_url()).startswith("local"):
        _workers_run_this_python()
        return _with_delta(builder, conf, local=True).getOrCreate()
    for key, value in conf.items():
        builder = builder.config(key, value)
    return builder.getOrCreate()


def _workers_run_this_python() -> None:
    os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
    os.environ.setdefault("PYSPARK_DRIVER_PYTHON", sys.executable)


def _launched_by_spark_submit() -> bool:
    """True when spark-submit (or a platform launcher) started the JVM and then this Python.

    The JVM hands its Py4J port to the Python driver it launches, so the variable is set
    exactly then; a user's ``PYSPARK_SUBMIT_ARGS`` for a plain ``python`` run does not count.
    """
    return bool(os.environ.get("PYSPARK_GATEWAY_PORT"))


def _delta_jars_configured(conf: Mapping[str, str]) -> bool:
    """True when the caller or spark-submit already put Delta on the classpath."""
    jars = " ".join(conf.get(k, "") for k in ("spark.jars", "spark.jars.packages"))
    submit_args = os.environ.get("PYSPARK_SUBMIT_ARGS", "")
    return "delta-spark" in jars or "delta-spark" in submit_args or "delta-core" in submit_args


def _apply_runtime_conf(spark: SparkSession, conf: Mapping[str, str]) -> None:
    for key, value in conf.items():
        try:
            spark.conf.set(key, value)
        except Exception:  # static configs cannot change on a running session
            log.debug("could not set %s on the active session", key)
