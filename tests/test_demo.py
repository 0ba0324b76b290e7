"""The demo subpackage stays off the production path (no production module imports it)."""

from __future__ import annotations

import ast
from pathlib import Path

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
