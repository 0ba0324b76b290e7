"""The report's charts: inline PNGs of the stated size, cluster labels, no figure when empty."""

from __future__ import annotations

import base64
import io
import re

import pandas as pd
from PIL import Image

from spark_prune.report.figures import (
    complexity_figure,
    counts_figure,
    label_clusters,
    new_figure,
    similarity_figure,
)


def _png_size(tag: str) -> tuple[int, int]:
    match = re.fullmatch(r"<img class='fig' alt='[^']*' src='data:image/png;base64,([^']+)'>", tag)
    assert match, tag[:80]
    with Image.open(io.BytesIO(base64.b64decode(match.group(1)))) as image:
        assert image.format == "PNG"
        return image.size


def _clusters(n: int) -> pd.DataFrame:
    size = pd.Series(range(10, 10 + n))
    return pd.DataFrame(
        {
            "cluster_id": range(n),
            "size": size,
            "kept": size // 2,
            "complexity": [0.1 * (i + 1) for i in range(n)],
            "quota": size // 2,
            "kept_fraction": (size // 2) / size,
            "capped": [i == 0 for i in range(n)],
            "at_lower_bound": [i == 1 for i in range(n)],
        }
    )


def test_figures_are_inline_pngs_at_100_dpi() -> None:
    assert _png_size(counts_figure([("dbp", 30.0), ("kept", 70.0)])) == (750, 160)
    assert _png_size(complexity_figure(_clusters(5))) == (900, 360)
    bins = pd.DataFrame({"lo": [0.5, 0.6], "hi": [0.6, 0.7], "count": [3, 1]})
    assert _png_size(similarity_figure(bins, cut=0.6)) == (900, 320)
    assert counts_figure([]) == ""


def test_cluster_labels_only_when_few() -> None:
    ax = new_figure(4, 2).add_subplot()
    label_clusters(ax, [7, 3, 5])
    assert [t.get_text() for t in ax.get_xticklabels()] == ["7", "3", "5"]
    assert ax.get_xlim() == (-0.5, 2.5)
    many = new_figure(4, 2).add_subplot()
    label_clusters(many, list(range(41)))
    assert list(many.get_xticks()) == []
