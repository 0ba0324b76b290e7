"""Fitting k-means by the configured method (clustering.py): the ``auto`` choice at its
documented threshold, and the driver fit with its extrapolated cluster sizes."""

from __future__ import annotations

import logging

import numpy as np
import pytest
from pyspark.sql import SparkSession

from spark_prune.clustering import choose_method, fit_kmeans, fit_kmeans_sized
from spark_prune.config import KMeansConfig
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
