"""Classification metrics from a confusion table (numpy): the linear probe's scores."""

from __future__ import annotations

import numpy as np


def probe_scores(
    label: np.ndarray, prediction: np.ndarray, count: np.ndarray
) -> tuple[float, float]:
    """(accuracy, macro-F1) from the rows of a (label, prediction) -> count table.

    Macro-F1 is the mean over the classes that occur as a true label of
    ``F1 = 2·tp / (2·tp + fp + fn)`` (0 when a class is never predicted correctly), as Spark's
    ``MulticlassMetrics`` averages ``fMeasure(label)`` over the true labels.
    """
    label, prediction = np.asarray(label, np.float64), np.asarray(prediction, np.float64)
    count = np.asarray(count, np.float64)
    total = count.sum()
    if total == 0:
        raise ValueError("no scored rows: the test part is empty")
    hit = label == prediction
    accuracy = float(count[hit].sum() / total)
    f1 = []
    for c in np.unique(label):
        tp = count[hit & (label == c)].sum()
        fn = count[(label == c) & ~hit].sum()
        fp = count[(prediction == c) & ~hit].sum()
        f1.append(2 * tp / (2 * tp + fp + fn) if tp > 0 else 0.0)
    return accuracy, float(np.mean(f1))
