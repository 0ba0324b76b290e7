"""Fixtures shared by every test module (layout and the other shared files: tests/README.md):
one local Delta-enabled SparkSession for the whole session, temp dirs, the standard input."""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
os.environ.setdefault("PYSPARK_DRIVER_PYTHON", sys.executable)
# every JVM the tests start reads tests/spark-conf/spark-defaults.conf (why: that file)
os.environ.setdefault("SPARK_CONF_DIR", str(Path(__file__).resolve().parent / "spark-conf"))

from pyspark.sql import SparkSession

from spark_prune.session import get_spark
from tests.embed_fixtures import data_cache, offline_checkpoint, offline_model, photo_variants
from tests.helpers import DIM, N, embedding_rows, write_input
from tests.incremental_fixture import Scenario
from tests.shard_fixtures import Layout, clip_retrieval_dir, datacomp_dir

TEST_CONF = {
    "spark.sql.shuffle.partitions": "4",
    "spark.default.parallelism": "4",
    "spark.ui.enabled": "false",
    "spark.driver.memory": "3g",
    "spark.sql.warehouse.dir": "",  # filled in below
}


def pytest_configure(config: pytest.Config) -> None:
    """With pytest-xdist (``-n``), fill the caches the workers share once, before they start:
    Spark's Ivy cache (the Delta jars), the unpacked clip art and Fashion-MNIST, the offline
    model checkpoint."""
    if hasattr(config, "workerinput") or not getattr(config.option, "numprocesses", None):
        return
    get_spark("spark_prune_warm_up", master="local[1]", conf={"spark.ui.enabled": "false"}).stop()
    from spark_prune.demo.clipart import ensure_openclipart

    ensure_openclipart(data_cache())
    from spark_prune.demo.fashion_mnist import ensure_fashion_mnist

    ensure_fashion_mnist(data_cache())
    offline_model()


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Modules marked ``slow`` first, each kept whole and in order (a stable sort). With
    ``-n 2 --dist loadfile --no-loadscope-reorder`` (the Makefile) the long end-to-end modules
    start early and the short ones fill in at the end. xdist's own order (most tests first)
    queued the longest modules, with two to four tests each, last. The whole suite's time did
    not measurably change (1,460 s -> 1,452 s on the 2-core VM, within its noise)."""
    items.sort(key=lambda item: item.get_closest_marker("slow") is None)


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


@pytest.fixture(scope="session")
def data() -> tuple[np.ndarray, np.ndarray]:
    """The standard pipeline input: N clustered DIM-d rows (tests.helpers)."""
    return embedding_rows(N, DIM, 5, seed=11)


@pytest.fixture(scope="session")
def input_path(
    spark: SparkSession,
    data: tuple[np.ndarray, np.ndarray],
    tmp_path_factory: pytest.TempPathFactory,
) -> str:
    """``data`` as a Delta table in 3 partitions, written once per session."""
    ids, x = data
    return write_input(spark, tmp_path_factory.mktemp("in") / "table", ids, x, partitions=3)


@pytest.fixture(scope="session")
def datacomp(tmp_path_factory: pytest.TempPathFactory) -> Layout:
    """A DataComp metadata directory of 3 shards (tests.shard_fixtures), made once."""
    return datacomp_dir(tmp_path_factory.mktemp("datacomp") / "metadata")


@pytest.fixture(scope="session")
def clip_dir(tmp_path_factory: pytest.TempPathFactory) -> Layout:
    """A clip-retrieval output directory of 2 shards (tests.shard_fixtures), made once."""
    return clip_retrieval_dir(tmp_path_factory.mktemp("clip_retrieval") / "laion")


@pytest.fixture(scope="session")
def checkpoint() -> Path:
    """The offline open_clip checkpoint (tests.embed_fixtures), built once and cached; a test
    that takes it is skipped where torch or open_clip is not installed."""
    pytest.importorskip("torch")
    pytest.importorskip("open_clip")
    return offline_checkpoint()


@pytest.fixture(scope="session")
def variants() -> list[tuple[str, str, bytes]]:
    """The real sample photos, flipped and resized (tests.embed_fixtures.photo_variants)."""
    return photo_variants()


@pytest.fixture(scope="session")
def incremental_scenario(spark: SparkSession, tmp_path_factory: pytest.TempPathFactory) -> Scenario:
    """A small input with four Delta versions and the runs over it (tests.incremental_fixture),
    each run made at most once, when a test first asks for it."""
    return Scenario(spark, tmp_path_factory.mktemp("incremental"))
