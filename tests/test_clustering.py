"""Fitting k-means by the configured method (clustering.py): the ``auto`` choice at its
documented threshold, and the driver fit with its extrapolated cluster sizes."""

from __future__ import annotations

import logging

import numpy as np
import pytest
from pyspark.sql import SparkSession

from spark_prune.clustering import (
    choose_method,
    driver_sample_bytes,
    fit_kmeans,
    fit_kmeans_sized,
    max_result_bytes,
    parse_bytes,
)
from spark_prune.config import ConfigError, KMeansConfig
from tests.helpers import embedding_rows


def test_auto_goes_distributed_only_when_the_driver_work_is_too_big(
    caplog: pytest.LogCaptureFixture,
) -> None:
    cfg = KMeansConfig(k=100, method="auto", driver_max_work=100 * 25_600)
    with caplog.at_level(logging.INFO, logger="spark_prune.clustering"):
        assert choose_method(cfg, 1_000_000) == "driver"  # 100 x 25,600 sample rows: the limit
        assert choose_method(cfg, 1_000_000, "semdedup k-means") == "driver"
        big = KMeansConfig(k=101, method="auto", driver_max_work=100 * 25_600)
        assert choose_method(big, 1_000_000) == "distributed"
    assert "k 101 x sample rows 25856" in caplog.text and "-> distributed" in caplog.text
    assert choose_method(KMeansConfig(method="distributed"), 10) == "distributed"
    assert choose_method(KMeansConfig(k=10**6, method="driver"), 10**9) == "driver"


def test_a_sample_over_max_result_size_is_refused_or_goes_distributed(
    caplog: pytest.LogCaptureFixture,
) -> None:
    k5000 = KMeansConfig(k=5000)  # 256 rows per centroid: every one of 1M rows
    need = driver_sample_bytes(1_000_000, 1_000_000, 512)
    assert need == 1_000_000 * (4 * 512 + 24)
    with pytest.raises(ConfigError, match=r"^semdedup k-means: .* 1.9 GiB .*set semdedup\.kmeans"):
        choose_method(k5000, 1_000_000, "semdedup k-means", 512, 2**30)
    assert choose_method(k5000, 1_000_000, "semdedup k-means", 512, 0) == "driver"  # unlimited
    assert choose_method(k5000, 1_000_000, "x", 512, need) == "driver"  # just fits
    auto = KMeansConfig(k=5000, method="auto", driver_max_work=10**15)
    with caplog.at_level(logging.INFO, logger="spark_prune.clustering"):
        assert choose_method(auto, 1_000_000, "dbp k-means", 512, 2**30) == "distributed"
    assert "sample 1.9 GiB > spark.driver.maxResultSize" in caplog.text


def test_spark_byte_sizes() -> None:
    assert parse_bytes("1g") == 2**30 and parse_bytes("512m") == 2**29
    assert parse_bytes("2048") == 2048 and parse_bytes("4GB") == 2**32
    assert parse_bytes("0") == 0 and parse_bytes("lots") == 0  # no limit, no guard


def test_max_result_size_of_the_session(spark: SparkSession) -> None:
    expected = parse_bytes(spark.sparkContext.getConf().get("spark.driver.maxResultSize", "1g"))
    assert max_result_bytes(spark.range(1)) == expected > 0


def test_driver_fit_and_its_sizes(spark: SparkSession) -> None:
    ids, x = embedding_rows(120, 6, 3, seed=7)
    rows = [(int(i), [float(v) for v in vec]) for i, vec in zip(ids, x, strict=True)]
    df = spark.createDataFrame(rows, "id long, image_emb array<float>").repartition(3)
    cfg = KMeansConfig(k=3, iterations=10, sample_size=60, method="driver")
    km, sizes = fit_kmeans_sized(df, "id", "image_emb", 6, 120, cfg)
    assert km.method == "driver" and km.sample_rows == 60 and km.centroids.shape == (3, 6)
    np.testing.assert_allclose(np.linalg.norm(km.centroids, axis=1), 1.0, atol=1e-5)
    # 60 sampled rows stand for 120: each sampled row counts twice
    assert sizes.sum() == pytest.approx(120) and (sizes % 2 == 0).all()
    again = fit_kmeans(df.repartition(2), "id", "image_emb", 6, 120, cfg)
    np.testing.assert_array_equal(again.centroids, km.centroids)  # same sample, same seed
