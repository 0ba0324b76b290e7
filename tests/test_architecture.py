"""The package's shape: no import cycles, a numeric core without pyspark, contract names in
one place, modules of a readable size."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import spark_prune
from spark_prune import contract

PACKAGE = Path(spark_prune.__file__).parent
MAX_LINES = 400


def _modules() -> dict[str, Path]:
    return {_name_of(path): path for path in PACKAGE.rglob("*.py")}


def _imports(path: Path, modules: dict[str, Path]) -> set[str]:
    """Every spark_prune module ``path`` imports, at module level or inside functions."""
    targets: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        names: list[str] = []
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            # `from pkg import sub` imports pkg.sub (and pkg's __init__, which is not the edge
            # that matters); `from pkg.mod import name` imports pkg.mod
            names = [
                f"{node.module}.{a.name}" if f"{node.module}.{a.name}" in modules else node.module
                for a in node.names
            ]
        targets.update(n for n in names if n in modules)
    return targets - {_name_of(path)}


def _name_of(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _cycle(graph: dict[str, set[str]]) -> list[str] | None:
    state: dict[str, int] = {}
    stack: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        stack.append(node)
        for nxt in sorted(graph[node]):
            if state.get(nxt) == 1:
                return [*stack[stack.index(nxt) :], nxt]
            if nxt not in state and (found := visit(nxt)):
                return found
        stack.pop()
        state[node] = 2
        return None

    for node in sorted(graph):
        if node not in state and (found := visit(node)):
            return found
    return None


def _package_edges(name: str, targets: set[str]) -> set[str]:
    # a package's __init__ importing its own submodules is how packages expose names
    return {t for t in targets if not t.startswith(name + ".")}


def test_no_import_cycle() -> None:
    modules = _modules()
    graph = {name: _package_edges(name, _imports(path, modules)) for name, path in modules.items()}
    assert _cycle(graph) is None, f"import cycle: {' -> '.join(_cycle(graph) or [])}"


def test_cycle_finder_finds_a_cycle() -> None:
    assert _cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert _cycle({"a": {"b"}, "b": set()}) is None


def test_numeric_core_imports_without_pyspark() -> None:
    code = (
        "import sys\n"
        "import spark_prune.core.quotas, spark_prune.core.vectors, spark_prune.core.ordering\n"
        "import spark_prune.core.assign, spark_prune.core.semdedup_kernel\n"
        "import spark_prune.core.semdedup_cost\n"
        "assert 'pyspark' not in sys.modules, sorted(m for m in sys.modules if 'spark' in m)\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True)


def _string_constants(path: Path) -> set[str]:
    tree = ast.parse(path.read_text())
    docstrings = {
        id(node.body[0].value)
        for node in ast.walk(tree)
        if isinstance(node, (ast.Module, ast.FunctionDef, ast.ClassDef, ast.AsyncFunctionDef))
        and node.body
        and isinstance(node.body[0], ast.Expr)
        and isinstance(node.body[0].value, ast.Constant)
    }
    return {
        node.value
        for node in ast.walk(tree)
        if isinstance(node, ast.Constant)
        and isinstance(node.value, str)
        and id(node) not in docstrings
    }


def test_contract_columns_are_spelled_only_in_the_contract() -> None:
    distinctive = {
        contract.SEMDEDUP_CLUSTER_ID,
        contract.SEMDEDUP_DIST,
        contract.SEMDEDUP_MAX_SIM,
        contract.SEMDEDUP_PARTNER,
        contract.RANK_IN_CLUSTER,
        contract.EMBED_ERROR,
    }
    offenders = {
        name: sorted(_string_constants(path) & distinctive)
        for name, path in _modules().items()
        if name != "spark_prune.contract"
    }
    assert {k: v for k, v in offenders.items() if v} == {}


def test_modules_stay_readable() -> None:
    long = {
        name: n
        for name, path in _modules().items()
        if (n := len(path.read_text().splitlines())) > MAX_LINES
    }
    assert long == {}
