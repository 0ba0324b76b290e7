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


def test_a_stage_breakdown_of_invalid_is_not_a_reason_and_shards_have_no_version() -> None:
    counts = {**MANIFEST["counts"], "clip_score_invalid": 1, "long_reason_name": 5}
    source = {"path": "/dc", "format": "datacomp", "delta_version": None, "shards": 3}
    lines = summary_lines({**MANIFEST, "counts": counts, "input": source})
    assert lines[1].split() == ["removed", "by", "invalid", "1"]
    assert lines[2].split() == ["of", "them", "clip_score_invalid:", "1"]
    assert not any(line.startswith("  removed by clip_score_invalid") for line in lines)
    numbers = [line.rstrip()[-1] for line in lines if line.startswith("  removed by")]
    ends = {len(line.rstrip()) for line in lines if line.startswith("  removed by")}
    assert numbers and len(ends) == 1  # the counts line up
    assert lines[7].split() == ["input:", "/dc", "(datacomp,", "3", "shards)"]
