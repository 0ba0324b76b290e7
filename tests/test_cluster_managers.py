"""The whole pipeline (embed -> SemDeDup -> DBP) on real cluster managers, not only local[2].

1. ``spark-submit jobs/prune.py`` on a Spark standalone master with two one-core workers (the
   daemons from the pyspark distribution), the Delta jars passed as on EMR (``--packages`` and
   the two session configs) and the package shipped as ``--py-files``.
2. ``run()`` and ``embed_only()`` through a local Spark Connect server (what Databricks
   serverless and shared clusters are), in a client process with no SparkContext.

Both must decide exactly what a local run decides on the same small real-image Delta table.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import zipfile
from pathlib import Path
from typing import Any

import pytest
import yaml

pytest.importorskip("torch")
pytest.importorskip("open_clip")

from pyspark.sql import SparkSession

from spark_prune.config_loader import load_config
from spark_prune.demo.clipart import build_sample_lakehouse
from spark_prune.pipeline import run
from tests.daemons import (
    DELTA_CONF,
    DELTA_PACKAGE,
    SPARK_HOME,
    conf_args,
    connect_server,
    daemon_env,
    master_state,
    run_process,
    standalone_cluster,
)
from tests.embed_fixtures import data_cache, offline_overrides

pytestmark = pytest.mark.slow  # run first under xdist (tests/conftest.py)

ROOT = Path(__file__).resolve().parents[1]
IMAGES = 40
JOB_TIMEOUT_S = 1200  # a cold Ivy cache downloads the Delta jars; a busy 2-core box is slow
# few partitions: a tiny table on a 2-core machine (Delta's default snapshot has 50)
SMALL = {
    "spark.sql.shuffle.partitions": "2",
    "spark.default.parallelism": "2",
    "spark.databricks.delta.snapshotPartitions": "2",
}


@pytest.fixture(scope="module")
def demo_config(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """conf/demo.yaml, with its ``spark.master: local[2]`` kept (spark-submit's must win) and
    small partition counts."""
    raw = yaml.safe_load((ROOT / "conf" / "demo.yaml").read_text())
    assert raw["spark"]["master"] == "local[2]"
    raw["spark"]["conf"] = dict(SMALL)
    path = tmp_path_factory.mktemp("conf") / "demo.yaml"
    path.write_text(yaml.safe_dump(raw))
    return path


def overrides(lakehouse: str, output: Path) -> list[str]:
    return [
        f"input.path={lakehouse}",
        f"output.path={output}",  # the embeddings cache goes to <output>/embeddings: fresh
        *offline_overrides(),
        "embed.batch_size=16",
        "semdedup.rows_per_cluster=30",
        "dbp.kmeans.k=4",
    ]


def set_args(values: list[str]) -> list[str]:
    return [arg for value in values for arg in ("--set", value)]


def reasons(spark: SparkSession, output: Path) -> dict[str, str | None]:
    rows = spark.read.format("delta").load(str(output / "decisions")).select("id", "reason")
    return {str(r["id"]): r["reason"] for r in rows.collect()}


@pytest.fixture(scope="module")
def clipart(spark: SparkSession, tmp_path_factory: pytest.TempPathFactory) -> str:
    path = str(tmp_path_factory.mktemp("lake") / "clipart")
    build_sample_lakehouse(spark, data_cache(), path, max_images=IMAGES)
    return path


@pytest.fixture(scope="module")
def local_reasons(
    spark: SparkSession,
    clipart: str,
    demo_config: Path,
    tmp_path_factory: pytest.TempPathFactory,
) -> dict[str, str | None]:
    """The reference: the same config run in this process on the tests' local[2] session."""
    output = tmp_path_factory.mktemp("local") / "run"
    result = run(spark, load_config(demo_config, overrides(clipart, output)))
    counts = result.counts
    assert counts["input"] == IMAGES and counts["semdedup"] > 0 and counts["dbp"] > 0, counts
    return reasons(spark, output)


def package_zip(target: Path) -> Path:
    """spark_prune as a --py-files zip, the way EMR jobs ship code without installing it."""
    with zipfile.ZipFile(target, "w") as archive:
        for path in sorted((ROOT / "spark_prune").rglob("*")):
            if path.is_file() and "__pycache__" not in path.parts:
                archive.write(path, path.relative_to(ROOT).as_posix())
    return target


def test_spark_submit_on_a_standalone_cluster_decides_like_local(
    spark: SparkSession,
    clipart: str,
    demo_config: Path,
    local_reasons: dict[str, str | None],
    tmp_path: Path,
) -> None:
    output = tmp_path / "run"
    code = package_zip(tmp_path / "spark_prune.zip")
    with standalone_cluster(tmp_path / "cluster", workers=2, cores=1) as cluster:
        command = [
            str(SPARK_HOME / "bin" / "spark-submit"),
            "--master",
            cluster.url,
            "--packages",
            DELTA_PACKAGE,
            *conf_args(DELTA_CONF),
            *conf_args(
                {
                    "spark.ui.enabled": "false",
                    "spark.driver.host": "127.0.0.1",
                    "spark.driver.bindAddress": "127.0.0.1",
                }
            ),
            "--py-files",
            str(code),
            str(ROOT / "jobs" / "prune.py"),
            "--config",
            str(demo_config),
            *set_args(overrides(clipart, output)),
        ]
        # no PYTHONPATH: the driver and the executors import spark_prune from the zip only
        env = daemon_env(tmp_path / "driver")
        done = run_process(command, env, tmp_path, JOB_TIMEOUT_S)
        state = master_state(cluster.webui_port)
        logs = "\n".join(d.tail(2000) for d in cluster.daemons)
    assert done.returncode == 0, done.stderr[-4000:] + logs
    assert f"of {IMAGES} rows kept" in done.stdout
    # it really ran on the cluster (a YAML spark.master must not override spark-submit's)
    apps = state.get("completedapps", []) + state.get("activeapps", [])
    assert [a["name"] for a in apps] == ["spark_prune_demo"], state
    assert apps[0]["cores"] == 2, apps  # one core from each worker
    executors = list((tmp_path / "cluster").glob("worker*/app-*/*/stderr"))
    assert len(executors) == 2 and {p.parts[-4] for p in executors} == {"worker0", "worker1"}
    assert reasons(spark, output) == local_reasons
    doc = json.loads((output / "manifest.json").read_text())
    counts = doc["counts"]
    assert counts["input"] == sum(
        counts[k] for k in ("kept", "invalid", "semdedup", "dbp", "clip_score")
    )
    assert doc["embed"]["model"]["checkpoint_sha256"]
    assert spark.read.format("delta").load(str(output / "pruned")).count() == counts["kept"]


def test_run_and_embed_through_spark_connect_decide_like_local(
    clipart: str, demo_config: Path, local_reasons: dict[str, str | None], tmp_path: Path
) -> None:
    output = tmp_path / "run"
    facts_path = tmp_path / "facts.json"
    with connect_server(tmp_path / "server", python_path=str(ROOT), conf=SMALL) as server:
        command = [
            sys.executable,
            "-m",
            "tests.connect_client",
            server.url,
            str(facts_path),
            "--config",
            str(demo_config),
            *set_args(overrides(clipart, output)),
        ]
        env = {**os.environ, "PYTHONPATH": str(ROOT)}
        env.pop("SPARK_CONNECT_MODE_ENABLED", None)
        done = run_process(command, env, ROOT, JOB_TIMEOUT_S)
        server_log = server.daemon.tail(3000)
        assert done.returncode == 0, done.stderr[-4000:] + server_log
        cli = cli_through_connect(server.url, output, [f"input.path={clipart}"], env)
    assert done.returncode == 0, done.stderr[-4000:] + server_log
    facts = json.loads(facts_path.read_text())
    assert facts["session_class"] == "pyspark.sql.connect.session.SparkSession"
    # no SparkContext on Connect: progress lines come from a Connect progress handler
    assert facts["has_spark_context"] is False and facts["probe_count"] == 8
    # (a Connect operation reports all its stages: the total grows as later stages start)
    probe = re.compile(r"connect probe: (\d+) of (\d+) tasks done")
    seen = [tuple(map(int, m.groups())) for m in probe.finditer(done.stderr)]
    assert seen and all(0 <= d <= t for d, t in seen) and max(t for _, t in seen) >= 8, seen
    assert "Traceback" not in done.stderr, done.stderr[-4000:]
    assert "embed done in" in done.stderr and "dbp.select done in" in done.stderr
    assert facts["counts"]["input"] == IMAGES
    assert facts["reasons"] == local_reasons
    again = facts["embed_only"]  # the embed stage alone: every id already in the cache
    assert again["rows"] == IMAGES and again["reused"] == IMAGES and again["embedded"] == 0
    # the CLI with SPARK_REMOTE set: a Connect session, not a local master
    assert cli["count"].returncode == 0, cli["count"].stderr[-3000:]
    assert f"|{IMAGES}|" in cli["count"].stdout.replace(" ", "")
    # a "/*" inside a string literal does not hide a write from the Connect word check
    insert = cli["insert"]
    assert insert.returncode == 2, insert.stderr[-3000:]
    assert last_line(insert).startswith("spark-prune: error: the statement contains INSERT: ")
    assert cli["rows_after"] == IMAGES
    # files the client cannot write on Connect: one line before any work
    remote = cli["remote_output"]
    assert remote.returncode == 1 and "Traceback" not in remote.stderr, remote.stderr[-3000:]
    assert last_line(remote).startswith(
        "spark-prune: error: output.path 's3a://bucket/run' is not a local path: on Spark"
    )


def last_line(done: subprocess.CompletedProcess[str]) -> str:
    return done.stderr.strip().splitlines()[-1]


def cli_through_connect(
    url: str, output: Path, settings: list[str], env: dict[str, str]
) -> dict[str, Any]:
    """``spark-prune sql`` (a query, and a write hidden behind a quoted "/*") and ``run`` onto
    an object-store path, each a CLI process with ``SPARK_REMOTE`` set."""
    remote_env = {**env, "SPARK_REMOTE": url}

    def cli(*args: str) -> subprocess.CompletedProcess[str]:
        command = [sys.executable, "-m", "spark_prune.cli", *args]
        return run_process(command, remote_env, ROOT, JOB_TIMEOUT_S)

    decisions = f"delta.`{output / 'decisions'}`"
    hidden = (
        f"WITH a AS (SELECT '/*' AS s) INSERT INTO {decisions} "
        f"SELECT * FROM {decisions} WHERE '*/' = '*/'"
    )
    found = {
        "count": cli("sql", "--run", str(output), "SELECT count(*) AS n FROM decisions"),
        "insert": cli("sql", "--run", str(output), hidden),
        "remote_output": cli("run", *set_args([*settings, "output.path=s3a://bucket/run"])),
    }
    rows = cli("sql", "--run", str(output), "SELECT count(*) AS n FROM decisions")
    found["rows_after"] = int(re.findall(r"\|\s*(\d+)\s*\|", rows.stdout)[-1])
    return found
