"""``python -m spark_prune.demo`` (demo/__main__.py): its command line, the config pointing at
what the demo built, and the same run summary as the CLI."""

from __future__ import annotations

import argparse
from pathlib import Path

import pytest

from spark_prune.config import PipelineConfig
from spark_prune.demo.__main__ import QUERIES, demo_config, parse_args, print_summary
from spark_prune.sql_guard import _check_words
from spark_prune.summary import summary_lines
from tests.test_summary import MANIFEST


def test_command_line() -> None:
    args = parse_args([])
    assert (args.workdir, args.max_images, args.config) == ("data", 2000, "conf/demo.yaml")
    assert args.overrides == []
    args = parse_args(["--max-images", "50", "--set", "dbp.tau=0.2", "--set", "a.b=1"])
    assert args.max_images == 50 and args.overrides == ["dbp.tau=0.2", "a.b=1"]
    with pytest.raises(SystemExit):
        parse_args(["--max-images", "many"])


def test_demo_config_points_at_what_the_demo_built(tmp_path: Path) -> None:
    args = argparse.Namespace(workdir=str(tmp_path), config="conf/demo.yaml", overrides=[])
    model = {"model_config": "/m/effnetlite0-minilm.json", "checkpoint": "/m/model.pt"}
    cfg = demo_config(args, tmp_path / "lake", model)
    assert cfg.embed.model_config == model["model_config"]
    assert cfg.embed.checkpoint == "/m/model.pt" and cfg.input.path == str(tmp_path / "lake")
    assert cfg.semdedup.kmeans.k == "auto"


def test_demo_summary_is_the_run_summary(capsys: pytest.CaptureFixture[str]) -> None:
    cfg = PipelineConfig()
    print_summary(MANIFEST, cfg, "/runs/r1/report.html", 12.3)
    out = capsys.readouterr().out
    assert "\n".join(summary_lines(MANIFEST)) in out
    assert "demo finished in 12s" in out and "/runs/r1/report.html" in out
    assert out.count("spark-prune sql --run") == 3


def test_suggested_queries_are_read_only() -> None:
    assert len(QUERIES) == 3
    for query in QUERIES:
        _check_words(query)  # what ``spark-prune sql`` accepts even over Spark Connect
