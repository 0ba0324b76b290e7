"""Classification metrics (core/metrics.py): numpy against a hand count and Spark's
MulticlassClassificationEvaluator."""

from __future__ import annotations

import numpy as np
import pytest
from pyspark.ml.evaluation import MulticlassClassificationEvaluator
from pyspark.sql import SparkSession

from spark_prune.core.metrics import probe_scores


def test_hand_computed_case() -> None:
    # labels 0,0,1,1,2 predicted 0,1,1,1,0: accuracy 3/5; F1: 0 -> 2/(2+1+1)=.5, 1 -> 4/5, 2 -> 0
    acc, f1 = probe_scores(np.array([0, 0, 1, 2]), np.array([0, 1, 1, 0]), np.array([1, 1, 2, 1]))
    assert acc == pytest.approx(0.6) and f1 == pytest.approx((0.5 + 0.8 + 0.0) / 3)
    with pytest.raises(ValueError, match="test part is empty"):
        probe_scores(np.array([]), np.array([]), np.array([]))


def test_matches_spark_evaluator(spark: SparkSession) -> None:
    rng = np.random.default_rng(0)
    label = rng.integers(0, 5, 300).astype(float)
    prediction = np.where(rng.random(300) < 0.6, label, rng.integers(0, 6, 300)).astype(float)
    df = spark.createDataFrame(
        [(float(a), float(b)) for a, b in zip(label, prediction, strict=True)],
        ["label", "prediction"],
    )
    counts = df.groupBy("label", "prediction").count().toPandas()
    acc, f1 = probe_scores(counts["label"], counts["prediction"], counts["count"])
    ev = MulticlassClassificationEvaluator()
    assert acc == pytest.approx(ev.evaluate(df, {ev.metricName: "accuracy"}), abs=1e-12)
    per_label = [
        ev.evaluate(df, {ev.metricName: "fMeasureByLabel", ev.metricLabel: float(c)})
        for c in range(5)
    ]
    assert f1 == pytest.approx(float(np.mean(per_label)), abs=1e-12)
