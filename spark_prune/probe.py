"""The linear probe of ``spark-prune evaluate``: Spark ML multinomial logistic regression on the
embedding, trained on a subset of the train part and scored on the test part.

Determinism: Spark's optimiser sums per-partition gradients, so the result depends on which
rows sit in which partition and in what order. Every training set is therefore laid out the
same way: hash-partitioned by id into a fixed number of partitions, sorted by id inside each.
"""

from __future__ import annotations

from dataclasses import dataclass

import pandas as pd
from pyspark.ml.classification import LogisticRegression, LogisticRegressionModel
from pyspark.ml.feature import StringIndexer, StringIndexerModel
from pyspark.ml.functions import array_to_vector
from pyspark.sql import DataFrame
from pyspark.sql import functions as F

from spark_prune.core.metrics import probe_scores

FEATURES = "_probe_features"
LABEL = "_probe_label"
PREDICTION = "_probe_prediction"


@dataclass(frozen=True)
class ProbeConfig:
    max_iter: int
    reg_param: float
    partitions: int


def label_indexer(train: DataFrame, label_col: str) -> StringIndexerModel:
    """Class label -> index, fitted on the train part (alphabetical, so it is reproducible);
    a label seen only in the test part gets an extra index that no prediction matches."""
    indexer = StringIndexer(
        inputCol=label_col, outputCol=LABEL, stringOrderType="alphabetAsc", handleInvalid="keep"
    )
    return indexer.fit(train)


def prepare(df: DataFrame, indexer: StringIndexerModel, emb_col: str) -> DataFrame:
    """``df`` plus the probe's feature vector and label index."""
    return indexer.transform(df).withColumn(FEATURES, array_to_vector(F.col(emb_col)))


def fixed_layout(df: DataFrame, id_col: str, partitions: int) -> DataFrame:
    """The same rows always in the same partitions and order (see the module docstring)."""
    return df.repartition(partitions, F.col(id_col)).sortWithinPartitions(id_col)


def train_probe(train: DataFrame, id_col: str, cfg: ProbeConfig) -> LogisticRegressionModel:
    lr = LogisticRegression(
        featuresCol=FEATURES,
        labelCol=LABEL,
        predictionCol=PREDICTION,
        family="multinomial",
        maxIter=cfg.max_iter,
        regParam=cfg.reg_param,
    )
    return lr.fit(fixed_layout(train.select(id_col, FEATURES, LABEL), id_col, cfg.partitions))


def score_probe(model: LogisticRegressionModel, test: DataFrame) -> tuple[float, float]:
    """(accuracy, macro-F1) on ``test``: a (label, prediction) count table, k² rows."""
    table = pd.DataFrame(
        model.transform(test.select(FEATURES, LABEL)).groupBy(LABEL, PREDICTION).count().toPandas()
    )
    return probe_scores(
        table[LABEL].to_numpy(), table[PREDICTION].to_numpy(), table["count"].to_numpy()
    )
