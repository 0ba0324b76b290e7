"""The linear probe (probe.py): Spark ML logistic regression on the embedding, a fixed training
layout, scores from the (label, prediction) count table."""

from __future__ import annotations

import numpy as np
import pytest
from pyspark.sql import SparkSession
from pyspark.sql import functions as F

from spark_prune.probe import (
    LABEL,
    ProbeConfig,
    fixed_layout,
    label_indexer,
    prepare,
    score_probe,
    train_probe,
)


def _rows(n: int, seed: int, labels: str = "abc") -> list[tuple[int, list[float], str]]:
    """``n`` rows per label, each label a tight blob around its own axis (linearly separable)."""
    rng = np.random.default_rng(seed)
    rows = []
    for c, label in enumerate(labels):
        centre = np.eye(4)[(ord(label) - ord("a")) % 4] * 5  # the label's own axis
        for i in range(n):
            vec = centre + rng.normal(0, 0.3, 4)
            rows.append((seed * 1000 + c * n + i, [float(v) for v in vec], label))
    return rows


def test_fixed_layout_ignores_the_input_partitioning(spark: SparkSession) -> None:
    df = spark.range(60).withColumn("v", F.col("id") * 2)
    layouts = [
        fixed_layout(df.repartition(parts, F.rand(parts)), "id", 3).rdd.glom().collect()
        for parts in (1, 5)
    ]
    assert layouts[0] == layouts[1] and len(layouts[0]) == 3
    assert all([r.id for r in part] == sorted(r.id for r in part) for part in layouts[0])


def test_probe_separates_blobs_and_scores_unseen_labels_as_wrong(spark: SparkSession) -> None:
    schema = "id long, emb array<float>, label string"
    train = spark.createDataFrame(_rows(20, seed=1, labels="cab"), schema)
    indexer = label_indexer(train, "label")
    assert list(indexer.labels) == ["a", "b", "c"]  # alphabetical, whatever the row order
    model = train_probe(prepare(train, indexer, "emb"), "id", ProbeConfig(30, 0.0, 2))
    test = spark.createDataFrame(_rows(10, seed=2, labels="abc"), schema)
    assert score_probe(model, prepare(test, indexer, "emb")) == (1.0, 1.0)
    unseen = spark.createDataFrame(_rows(10, seed=3, labels="abcd"), schema)
    prepared = prepare(unseen, indexer, "emb")
    assert prepared.filter(F.col(LABEL) == 3).count() == 10  # "d": the extra index
    accuracy, macro_f1 = score_probe(model, prepared)
    assert accuracy == pytest.approx(30 / 40)
    # macro-F1 over the 4 true labels: "d" scores 0, and its 10 rows are false positives of
    # a, b or c (each then 20 / (20 + fp) < 1): at least 3 * 20 / (20 + 10 / 3) / 4 = 0.643
    assert 0.64 < macro_f1 < 0.75
