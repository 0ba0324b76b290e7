"""The few lines a finished run prints (``spark-prune run``/``rethreshold`` and the demo)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any


def summary_lines(doc: Mapping[str, Any]) -> list[str]:
    """Kept of input, removed per reason, the input and the output tables with Delta versions.

    ``doc`` is a run manifest; its counts besides ``input`` and ``kept`` are reasons, except
    ``<stage>_invalid``, the rows of ``invalid`` that a stage found (shown under it).
    """
    counts = doc["counts"]
    lines = [f"run {doc['run_id']}: {counts['kept']} of {counts['input']} rows kept"]
    reasons = [r for r in counts if r not in ("input", "kept") and not r.endswith("_invalid")]
    parts = [r for r in counts if r.endswith("_invalid")]
    width = max((len(r) for r in reasons), default=0) + 1
    for reason in reasons:
        lines.append(f"  removed by {reason:<{width}}{counts[reason]:>8}")
        if reason == "invalid":
            lines += [f"    of them {part}: {counts[part]}" for part in parts]
    source = doc["input"]
    tables = [("input", source["path"], _input_version(source))]
    tables += [
        (name, info["location"], f"Delta version {info['delta_version']}")
        for name, info in doc["outputs"].items()
    ]
    width = max(len(name) for name, _, _ in tables) + 2  # the colon and at least one space
    for name, location, version in tables:
        lines.append(f"  {name + ':':<{width}}{location} ({version})")
    return lines


def _input_version(source: Mapping[str, Any]) -> str:
    """The input's Delta version, or what was read when it has none (shards, Parquet)."""
    if source.get("delta_version") is not None:
        return f"Delta version {source['delta_version']}"
    if source.get("shards") is not None:
        return f"{source.get('format')}, {source['shards']} shards"
    return f"{source.get('format')}, no Delta version"


def print_summary(doc: Mapping[str, Any]) -> None:
    print("\n".join(summary_lines(doc)))
