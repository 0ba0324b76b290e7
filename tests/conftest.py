"""One local Delta-enabled SparkSession for the whole test session, and temp dirs."""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
os.environ.setdefault("PYSPARK_DRIVER_PYTHON", sys.executable)

from pyspark.sql import SparkSession

from spark_prune.session import get_spark

TEST_CONF = {
    "spark.sql.shuffle.partitions": "4",
    "spark.default.parallelism": "4",
    "spark.ui.enabled": "false",
    "spark.driver.memory": "3g",
    "spark.sql.warehouse.dir": "",  # filled in below
}


@pytest.fixture(scope="session")
def spark(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SparkSession]:
    warehouse = tmp_path_factory.mktemp("warehouse")
    conf = dict(TEST_CONF, **{"spark.sql.warehouse.dir": str(warehouse)})
    session = get_spark("spark_prune_tests", master="local[2]", conf=conf)
    yield session
    session.stop()


@pytest.fixture()
def workdir(tmp_path: Path) -> Path:
    return tmp_path
