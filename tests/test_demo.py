"""The demo stays off the production path, and prints the same run summary as the CLI."""

from __future__ import annotations

import argparse
import ast
from pathlib import Path

import pytest

from spark_prune.config import PipelineConfig
from spark_prune.demo.__main__ import demo_config, print_summary
from spark_prune.summary import summary_lines
from tests.test_summary import MANIFEST

PACKAGE = Path(__file__).resolve().parents[1] / "spark_prune"


def _imports(path: Path) -> set[str]:
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            names.add(node.module)
            names.update(f"{node.module}.{alias.name}" for alias in node.names)
    return names


def test_production_modules_never_import_the_demo() -> None:
    production = [p for p in PACKAGE.rglob("*.py") if "demo" not in p.relative_to(PACKAGE).parts]
    assert len(production) > 20
    for path in production:
        demo = sorted(n for n in _imports(path) if n.startswith("spark_prune.demo"))
        assert not demo, f"{path.relative_to(PACKAGE)} imports {demo}"


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
