"""SemDeDup on real images: Debian's openclipart PNGs embedded by the real offline open_clip model.

Ground truth: files with the same bytes. Every byte-identical copy beyond the first of its group
must be removed by SemDeDup, through the same ``run`` users call (embed -> SemDeDup).
"""

from __future__ import annotations

from collections import defaultdict
from pathlib import Path

import pytest

pytest.importorskip("torch")
pytest.importorskip("open_clip")

from pyspark.sql import SparkSession

from spark_prune.config_loader import config_from_dict
from spark_prune.demo.clipart import build_sample_lakehouse
from spark_prune.pipeline import run
from tests.embed_fixtures import data_cache, offline_model

pytestmark = pytest.mark.slow  # run first under xdist (tests/conftest.py)

SAMPLE_IMAGES = 300


def test_every_byte_identical_clipart_copy_is_removed(spark: SparkSession, tmp_path: Path) -> None:
    source = str(tmp_path / "clipart")
    sample = build_sample_lakehouse(spark, data_cache(), source, max_images=SAMPLE_IMAGES)
    assert sample["rows"] == SAMPLE_IMAGES and sample["redundant_rows"] >= 20
    cfg = config_from_dict(
        {
            "input": {"path": source, "embedding_column": "image_emb"},
            "output": {"path": str(tmp_path / "run")},
            "embed": {
                "enabled": True,
                **offline_model(),
                "text_column": None,
                "batch_size": 16,
            },
            "semdedup": {"enabled": True, "eps": 0.01, "rows_per_cluster": 50},
            "dbp": {"enabled": False},
        }
    )
    result = run(spark, cfg)

    images = spark.read.format("delta").load(source).select("id", "image").collect()
    groups: dict[bytes, list[int]] = defaultdict(list)
    for row in images:
        groups[bytes(row["image"])].append(row["id"])
    copies = {i for ids in groups.values() for i in sorted(ids)[1:]}
    assert len(copies) == sample["redundant_rows"]

    decisions = {
        r["id"]: r
        for r in spark.read.format("delta").load(f"{cfg.output.path}/decisions").collect()
    }
    assert len(decisions) == SAMPLE_IMAGES and not any(r["detail"] for r in decisions.values())
    for ids in groups.values():
        if len(ids) > 1:
            removed = [i for i in ids if decisions[i]["reason"] == "semdedup"]
            assert len(removed) >= len(ids) - 1, (ids, [decisions[i] for i in ids])
            for i in removed:
                if decisions[i]["semdedup_partner"] in ids:
                    assert decisions[i]["semdedup_max_sim"] > 1 - 1e-5
    assert result.counts["semdedup"] >= len(copies)
