"""``spark-prune evaluate`` on real data: 600 Fashion-MNIST training images (Debian
``dataset-fashion-mnist``) embedded by the 64-component PCA fixture. Kept small (every Spark
action costs seconds on the shared machine): every strategy at two budgets, one CLI run, one
rerun on the reshuffled input, one ``run`` to compare subsets with."""

from __future__ import annotations

import contextlib
import io
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
import yaml
from pyspark.sql import SparkSession
from pyspark.sql import functions as F

from spark_prune.cli import main
from spark_prune.config import ConfigError
from spark_prune.config_loader import config_from_dict
from spark_prune.demo.fashion_mnist import build_fashion_mnist_table
from spark_prune.errors import InputError
from spark_prune.evaluate import (
    FULL,
    SCHEMA,
    evaluate,
    format_table,
    is_test,
    select_subsets,
    split_rows,
    strategy_config,
)
from spark_prune.pipeline import run
from spark_prune.report import evaluation_section, write_report
from tests.embed_fixtures import data_cache

pytestmark = pytest.mark.slow  # run first under xdist (tests/conftest.py)

ROWS = 600
BUDGETS = [0.2, 0.5]
STRATEGIES = ["dbp", "uniform", "ssp", "random", "dbp_random", "hierarchical"]


def raw_config(source: str, out: str, **evaluate: Any) -> dict[str, Any]:
    return {
        "input": {"path": source},
        "output": {"path": out},
        "dbp": {"kmeans": {"k": 6, "iterations": 10}, "hierarchy": {"k": [2], "iterations": 10}},
        "evaluate": {
            "label_column": "label",
            "budgets": BUDGETS,
            "strategies": STRATEGIES,
            "max_iter": 8,  # one Spark job per iteration: the cost of the test
            "partitions": 2,
            **evaluate,
        },
    }


@pytest.fixture(scope="module")
def fashion(spark: SparkSession, tmp_path_factory: pytest.TempPathFactory) -> str:
    path = str(tmp_path_factory.mktemp("fashion") / "table")
    build_fashion_mnist_table(spark, data_cache(), path, rows=ROWS)
    return path


@pytest.fixture(scope="module")
def evaluated(fashion: str, tmp_path_factory: pytest.TempPathFactory) -> tuple[str, str, Any]:
    """The CLI end to end: the printed table and the written evaluation."""
    out = str(tmp_path_factory.mktemp("eval") / "out")
    config = Path(out).parent / "evaluate.yaml"
    config.write_text(yaml.safe_dump(raw_config(fashion, out)))
    printed = io.StringIO()
    with contextlib.redirect_stdout(printed):
        assert main(["evaluate", "--config", str(config)]) == 0
    return out, printed.getvalue(), config


def test_table_has_every_strategy_and_budget(spark: SparkSession, evaluated) -> None:  # type: ignore[no-untyped-def]
    out, printed, _ = evaluated
    table = spark.read.format("delta").load(f"{out}/evaluation").toPandas()
    assert list(table.columns) == [
        "strategy",
        "budget",
        "rows_kept",
        "accuracy",
        "macro_f1",
        "seconds",
    ]
    assert len(table) == 1 + len(STRATEGIES) * len(BUDGETS)
    full = table[table["strategy"] == FULL].iloc[0]
    n_train = int(full["rows_kept"])
    assert full["budget"] == 1.0 and abs(n_train - 0.8 * ROWS) < 0.05 * ROWS
    assert full["accuracy"] > 0.5  # 10 classes (chance 0.1); a short probe on 474 rows
    pruned = table[table["strategy"] != FULL]
    expected = np.floor(pruned["budget"] * n_train + 0.5).astype(int)
    np.testing.assert_array_equal(pruned["rows_kept"].to_numpy(), expected.to_numpy())
    assert pruned["accuracy"].between(0.2, 1).all() and pruned["macro_f1"].between(0.1, 1).all()
    at_half = pruned[pruned["budget"] == 0.5].set_index("strategy")["accuracy"]
    at_fifth = pruned[pruned["budget"] == 0.2].set_index("strategy")["accuracy"]
    assert (at_half >= at_fifth - 0.05).all()  # more data rarely hurts a lot
    for strategy in STRATEGIES:
        assert strategy in printed
    assert "accuracy" in printed and "full" in printed
    page = Path(out, "evaluation.html").read_text()
    assert "data:image/png;base64" in page and "dbp_random" in page


def test_deterministic_whatever_the_partitioning(
    spark: SparkSession, fashion: str, evaluated, tmp_path: Path
) -> None:  # type: ignore[no-untyped-def]
    """The same rows written in 5 partitions in another order give the same numbers (split,
    k-means, selection and probe): the baseline and one strategy, to keep the test cheap."""
    out, _, _ = evaluated
    shuffled = str(tmp_path / "shuffled")
    spark.read.format("delta").load(fashion).repartition(5, F.rand(3)).write.format("delta").save(
        shuffled
    )
    cfg = config_from_dict(
        raw_config(shuffled, str(tmp_path / "out"), strategies=["dbp_random"], budgets=[0.5])
    )
    again = evaluate(spark, cfg)
    assert again["strategy"].tolist() == [FULL, "dbp_random"]
    first = spark.read.format("delta").load(f"{out}/evaluation").toPandas()
    for row in again.itertuples(index=False):
        match = first[(first["strategy"] == row.strategy) & (first["budget"] == row.budget)]
        assert match["rows_kept"].item() == row.rows_kept
        assert match["accuracy"].item() == row.accuracy
        assert match["macro_f1"].item() == row.macro_f1


def test_subsets_are_what_run_keeps(
    spark: SparkSession, fashion: str, evaluated, tmp_path: Path
) -> None:  # type: ignore[no-untyped-def]
    """evaluate's hierarchical subset (quotas down the hierarchy, random rows inside clusters,
    through ``dbp.plan_and_select``) equals what ``run`` keeps from the train part; the report
    of a run whose output also holds an evaluation shows it."""
    cfg = config_from_dict(raw_config(fashion, str(tmp_path / "unused"), budgets=[0.3]))
    cfg = replace(cfg, evaluate=replace(cfg.evaluate, strategies=("hierarchical",)))
    split = split_rows(spark, cfg)
    train_path = str(tmp_path / "train")
    split.train.write.format("delta").save(train_path)
    (subset,) = select_subsets(spark, split.train, cfg, split.dim)
    assert subset.kept_ids is not None
    ours = sorted(r.id for r in subset.kept_ids.collect())
    split.cached.unpersist()
    out = str(tmp_path / "run")
    raw = raw_config(train_path, out)
    dbp_cfg = strategy_config(cfg.dbp, "hierarchical", 0.3)
    raw["dbp"] = {**raw["dbp"], "strategy": dbp_cfg.strategy, "keep_fraction": 0.3,
                  "within_cluster": dbp_cfg.within_cluster}  # fmt: skip
    run(spark, config_from_dict(raw))
    kept = spark.read.format("delta").load(f"{out}/decisions").filter("kept").select("id")
    assert sorted(r.id for r in kept.collect()) == ours and len(ours) == subset.rows_kept
    assert evaluation_section(spark, out) is None
    evaluated_out, _, _ = evaluated
    spark.read.format("delta").load(f"{evaluated_out}/evaluation").write.format("delta").save(
        f"{out}/evaluation"
    )
    page = Path(write_report(spark, out, f"{out}/report.html", thumbnails_column=None))
    text = page.read_text()
    assert "Strategies compared (linear probe)" in text and "dbp_random" in text
    # the same run named by its manifest file: the same section (it was left out)
    section = evaluation_section(spark, f"{out}/manifest.json")
    assert section is not None and "dbp_random" in section.body
    # named by a manifest file elsewhere: the output its config names holds the evaluation
    named = tmp_path / "named.json"
    named.write_text(Path(f"{out}/manifest.json").read_text())
    again = write_report(spark, str(named), str(tmp_path / "named.html"), thumbnails_column=None)
    assert "Strategies compared (linear probe)" in Path(again).read_text()


def test_split_is_seeded_and_partition_independent(spark: SparkSession) -> None:
    df = spark.range(2000).repartition(5)
    flags = {r.id: r.t for r in df.select("id", is_test("id", 0.2, 7).alias("t")).collect()}
    again = spark.range(2000).coalesce(1).select("id", is_test("id", 0.2, 7).alias("t"))
    assert {r.id: r.t for r in again.collect()} == flags
    assert 300 < sum(flags.values()) < 500
    other = {r.id: r.t for r in df.select("id", is_test("id", 0.2, 8).alias("t")).collect()}
    assert other != flags


def test_config_errors_name_the_key(
    spark: SparkSession, fashion: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(ConfigError, match="evaluate.budgets\\[1\\]: must be in"):
        config_from_dict(raw_config("/a", "/b", budgets=[0.2, 1.5]))
    with pytest.raises(ConfigError, match="evaluate.strategies\\[0\\]: must be one of"):
        config_from_dict(raw_config("/a", "/b", strategies=["best"]))
    assert main(["evaluate", "--set", "input.path=/a", "--set", "output.path=/b"]) == 2
    assert "evaluate.label_column: is required" in capsys.readouterr().err
    cfg = config_from_dict(raw_config(fashion, str(tmp_path / "out"), label_column="kind"))
    with pytest.raises(InputError, match="evaluate.label_column: no column 'kind' in the input"):
        evaluate(spark, cfg)
    with pytest.raises(ConfigError, match=r"evaluate.budgets: lists a budget twice"):
        config_from_dict(raw_config("/a", "/b", budgets=[0.2, 0.2]))
    flagged = str(tmp_path / "flagged")
    spark.read.format("delta").load(fashion).withColumn("flag", F.col("label") > 4).write.format(
        "delta"
    ).save(flagged)
    cfg = config_from_dict(raw_config(flagged, str(tmp_path / "out"), label_column="flag"))
    with pytest.raises(InputError, match="evaluate.label_column 'flag' is boolean; the probe's"):
        evaluate(spark, cfg)  # failed in Spark ML's fit, a minute in


def test_the_text_table_keeps_columns_apart() -> None:
    rows = [("dbp", 0.1, 0, float("nan"), float("nan"), 0.5), ("ssp", 0.5, 1234, 0.5, 0.25, 12.0)]
    lines = format_table(pd.DataFrame(rows, columns=SCHEMA.fieldNames())).splitlines()
    assert lines[2].split() == ["dbp", "0.10", "0", "infeasible", "0.5"]  # not "0infeasible"
    assert lines[3].split() == ["ssp", "0.50", "1,234", "0.5000", "0.2500", "12.0"]
    assert len({len(line) for line in (lines[0], lines[3])}) == 1
