"""The wheel clusters install, and ``spark-submit jobs/prune.py`` on the demo's real lakehouse."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import zipfile
from email.parser import Parser
from pathlib import Path

import pytest
from pyspark.sql import SparkSession

from spark_prune.demo.clipart import build_sample_lakehouse
from spark_prune.session import DELTA_CATALOG, DELTA_EXTENSION
from tests.embed_fixtures import data_cache, offline_overrides

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("dist")
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "wheel",
            "--no-deps",
            "--no-build-isolation",
            "-q",
            "-w",
            str(out),
            str(ROOT),
        ],
        check=True,
    )
    (built,) = out.glob("spark_prune-*.whl")
    return built


def test_wheel_leaves_spark_to_the_cluster(wheel: Path) -> None:
    with zipfile.ZipFile(wheel) as archive:
        names = archive.namelist()
        meta_name = next(n for n in names if n.endswith(".dist-info/METADATA"))
        metadata = Parser().parsestr(archive.read(meta_name).decode())
        entry_points = archive.read(meta_name.replace("METADATA", "entry_points.txt")).decode()
    requires = metadata.get_all("Requires-Dist") or []
    unconditional = [r for r in requires if "extra ==" not in r]
    assert not [r for r in unconditional if r.startswith(("pyspark", "delta-spark", "torch"))]
    assert any(r.startswith("pyspark") and 'extra == "spark"' in r for r in requires)
    assert "spark-prune = spark_prune.cli:main" in entry_points
    assert "spark_prune/py.typed" in names and "spark_prune/embed/stage.py" in names
    assert not [n for n in names if n.startswith(("tests/", "bench/", "data/"))]


def test_installed_wheel_runs_outside_the_repo(wheel: Path, tmp_path: Path) -> None:
    target = tmp_path / "site"
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "install",
            "--no-deps",
            "-q",
            "--target",
            str(target),
            str(wheel),
        ],
        check=True,
    )
    code = (
        "import spark_prune, sys; from spark_prune.cli import main; print(spark_prune.__file__);"
        "sys.exit(main(['run', '--set', 'dbp.tau=-1', '--set', 'input.path=x',"
        " '--set', 'output.path=y']))"
    )
    env = {**os.environ, "PYTHONPATH": str(target)}
    done = subprocess.run(
        [sys.executable, "-c", code],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.stdout.startswith(str(target)), done.stdout + done.stderr
    assert done.returncode == 2 and "dbp.tau" in done.stderr  # a config error naming the key


def test_spark_submit_prune_job_on_the_sample_lakehouse(
    spark: SparkSession, tmp_path: Path
) -> None:
    lakehouse = str(tmp_path / "clipart")
    build_sample_lakehouse(spark, data_cache(), lakehouse, max_images=60)
    output = tmp_path / "run"
    command = [
        str(BIN / "spark-submit"),
        "--master",
        "local[2]",
        "--packages",
        "io.delta:delta-spark_2.13:4.0.1",
        "--conf",
        f"spark.sql.extensions={DELTA_EXTENSION}",
        "--conf",
        f"spark.sql.catalog.spark_catalog={DELTA_CATALOG}",
        "--conf",
        "spark.ui.enabled=false",
        str(ROOT / "jobs" / "prune.py"),
        "--config",
        str(ROOT / "conf" / "demo.yaml"),
        "--set",
        f"input.path={lakehouse}",
        "--set",
        f"output.path={output}",
        *(arg for item in offline_overrides() for arg in ("--set", item)),
        "--set",
        f"embed.cache_path={tmp_path / 'embeddings'}",
        "--set",
        "dbp.kmeans.k=4",
        "--set",
        "semdedup.rows_per_cluster=30",
    ]
    env = {**os.environ, "PYSPARK_PYTHON": sys.executable, "PYSPARK_DRIVER_PYTHON": sys.executable}
    done = subprocess.run(
        command, cwd=tmp_path, env=env, capture_output=True, text=True, check=False, timeout=600
    )
    assert done.returncode == 0, done.stderr[-3000:]
    assert "kept" in done.stdout and "of 60 rows kept" in done.stdout
    doc = json.loads((output / "manifest.json").read_text())
    counts = doc["counts"]
    assert counts["input"] == 60
    assert counts["input"] == sum(
        counts[k] for k in ("kept", "invalid", "semdedup", "dbp", "clip_score")
    )
    assert doc["embed"]["model"]["checkpoint_sha256"]
    kept = spark.read.format("delta").load(str(output / "pruned")).count()
    assert kept == counts["kept"]
