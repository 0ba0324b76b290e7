"""The run summary printed by ``spark-prune run``/``rethreshold`` and the demo."""

from __future__ import annotations

from typing import Any

import pytest

from spark_prune.summary import print_summary, summary_lines

MANIFEST: dict[str, Any] = {
    "run_id": "r1",
    "counts": {"input": 10, "kept": 4, "invalid": 1, "semdedup": 2, "clip_score": 0, "dbp": 3},
    "input": {"path": "/lake/in", "delta_version": 7},
    "outputs": {
        "decisions": {"location": "/runs/r1/decisions", "delta_version": 0},
        "pruned": {"location": "main.s.pruned", "delta_version": 2},
    },
}


def test_summary_lines() -> None:
    lines = summary_lines(MANIFEST)
    assert lines[0] == "run r1: 4 of 10 rows kept"
    assert [line.split()[2:] for line in lines[1:5]] == [
        ["invalid", "1"],
        ["semdedup", "2"],
        ["clip_score", "0"],
        ["dbp", "3"],
    ]
    assert lines[5].split() == ["input:", "/lake/in", "(Delta", "version", "7)"]
    assert lines[6].split()[:2] == ["decisions:", "/runs/r1/decisions"]
    assert lines[7].split() == ["pruned:", "main.s.pruned", "(Delta", "version", "2)"]
    assert len(lines) == 8


def test_print_summary(capsys: pytest.CaptureFixture[str]) -> None:
    print_summary(MANIFEST)
    assert capsys.readouterr().out.splitlines() == summary_lines(MANIFEST)


def test_long_table_names_stay_apart_from_their_location() -> None:
    outputs = {
        **MANIFEST["outputs"],
        "semdedup_clusters": {"location": "/r/sc", "delta_version": 1},
    }
    lines = summary_lines({**MANIFEST, "outputs": outputs})
    assert lines[-1].split()[:2] == ["semdedup_clusters:", "/r/sc"]
    locations = ["/lake/in", "/runs/r1/decisions", "main.s.pruned", "/r/sc"]
    starts = {line.index(loc) for line, loc in zip(lines[5:], locations, strict=True)}
    assert len(starts) == 1  # the locations line up in one column
