"""tests/ mirrors spark_prune/ (tests/README.md): every library module has its test module."""

from __future__ import annotations

import ast
from pathlib import Path

import spark_prune

PACKAGE = Path(spark_prune.__file__).parent
TESTS = Path(__file__).parent


def test_module_name(name: str = "core.quotas") -> None:
    assert expected_test(name) == "test_core_quotas.py"
    assert expected_test("stages") == "test_stages.py"
    assert expected_test("cli") == "test_cli.py"


def expected_test(module: str) -> str:
    """``spark_prune/a/b.py`` -> ``test_a_b.py``; ``spark_prune/a/__init__.py`` -> ``test_a.py``."""
    return f"test_{module.replace('.', '_').replace('___main__', '_main')}.py"


def library_modules() -> list[str]:
    """Dotted names (relative to spark_prune) of every module with code worth a test: an
    ``__init__.py`` that only re-exports (no function or class) does not count."""
    names = []
    for path in sorted(PACKAGE.rglob("*.py")):
        parts = list(path.relative_to(PACKAGE).with_suffix("").parts)
        if parts[-1] == "__init__":
            tree = ast.parse(path.read_text())
            defines = any(isinstance(n, (ast.FunctionDef, ast.ClassDef)) for n in ast.walk(tree))
            if not defines or len(parts) == 1:
                continue
            parts = parts[:-1]
        names.append(".".join(parts))
    return names


def missing() -> set[str]:
    return {m for m in library_modules() if not (TESTS / expected_test(m)).exists()}


def test_every_module_has_a_test_module() -> None:
    assert missing() == set()
