"""The few lines a finished run prints (``spark-prune run``/``rethreshold`` and the demo)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any


def summary_lines(doc: Mapping[str, Any]) -> list[str]:
    """Kept of input, removed per reason, the input and the output tables with Delta versions.

    ``doc`` is a run manifest; every count it holds besides ``input`` and ``kept`` is a reason.
    """
    counts = doc["counts"]
    lines = [f"run {doc['run_id']}: {counts['kept']} of {counts['input']} rows kept"]
    for reason, removed in counts.items():
        if reason not in ("input", "kept"):
            lines.append(f"  removed by {reason:<11}{removed:>8}")
    source = doc["input"]
    tables = [("input", source["path"], source["delta_version"])]
    tables += [
        (name, info["location"], info["delta_version"]) for name, info in doc["outputs"].items()
    ]
    width = max(len(name) for name, _, _ in tables) + 2  # the colon and at least one space
    for name, location, version in tables:
        lines.append(f"  {name + ':':<{width}}{location} (Delta version {version})")
    return lines


def print_summary(doc: Mapping[str, Any]) -> None:
    print("\n".join(summary_lines(doc)))
