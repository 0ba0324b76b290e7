"""The wheel clusters install. (``spark-submit jobs/prune.py`` on the demo's real lakehouse, with
the Delta jars passed as on EMR, is in ``test_cluster_managers.py``.)"""

from __future__ import annotations

import os
import subprocess
import sys
import zipfile
from email.parser import Parser
from pathlib import Path

import pytest

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
