"""notebooks/explore_run.ipynb runs top to bottom against a small run, in a fresh kernel.

The kernel is this interpreter (a kernelspec written to a temp dir and found through
JUPYTER_PATH), so the test works in a fresh clone without ``jupyter kernelspec install``.
"""

from __future__ import annotations

import math
from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient

from tests.run_fixture import (
    SIZES,
    FixtureRun,
    shared_run_fixture,  # noqa: F401  (provides the shared_run fixture)
)

pytestmark = pytest.mark.slow  # run first under xdist (tests/conftest.py)

NOTEBOOK = Path(__file__).resolve().parents[1] / "notebooks" / "explore_run.ipynb"
KERNEL = "spark-prune-tests"


@pytest.fixture()
def kernel_name(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    from ipykernel.kernelspec import install

    prefix = tmp_path / "jupyter"
    install(kernel_name=KERNEL, prefix=str(prefix))
    monkeypatch.setenv("JUPYTER_PATH", str(prefix / "share" / "jupyter"))
    return KERNEL


def _inject(nb: nbformat.NotebookNode, **params: object) -> None:
    """Papermill-style: a cell after the ``parameters`` cell overrides its values."""
    index = next(i for i, c in enumerate(nb.cells) if "parameters" in c.metadata.get("tags", []))
    source = "\n".join(f"{name} = {value!r}" for name, value in params.items())
    cell = nbformat.v4.new_code_cell(source, metadata={"tags": ["injected-parameters"]})
    nb.cells.insert(index + 1, cell)


def _text(nb: nbformat.NotebookNode) -> str:
    parts = []
    for cell in nb.cells:
        for out in cell.get("outputs", []):
            parts.append(out.get("text", ""))
            parts.append(out.get("data", {}).get("text/plain", ""))
    return "\n".join(parts)


def test_notebook_runs_against_a_run(
    shared_run: FixtureRun, tmp_path: Path, kernel_name: str
) -> None:
    run = shared_run
    nb = nbformat.read(NOTEBOOK, as_version=4)
    assert any("parameters" in c.metadata.get("tags", []) for c in nb.cells)
    _inject(nb, RUN_PATH=run.path, NEW_TAU=0.5, NEW_KEEP_FRACTION=0.5, SPARK_MASTER="local[1]")
    client = NotebookClient(
        nb,
        kernel_name=kernel_name,
        timeout=300,
        resources={"metadata": {"path": str(tmp_path)}},
    )
    client.execute()
    text = _text(nb)
    n_in = sum(SIZES)
    target = math.floor(0.5 * n_in + 0.5)
    assert f"counts reconcile: {run.counts['kept']} of {run.counts['input']} rows kept" in text
    assert f"stored quotas reproduced: tau 0.1, target 40 of {n_in}" in text
    assert f"target {target} rows" in text
    assert f"what-if keeps {target} of {n_in} rows entering DBP" in text
    assert any(
        "image/png" in out.get("data", {}) for c in nb.cells for out in c.get("outputs", [])
    ), "the what-if figure was not drawn"
