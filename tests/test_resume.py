"""Checkpoint keys: a changed config section or input version invalidates exactly the stage it
belongs to and the stages after it."""

from __future__ import annotations

from dataclasses import replace

from spark_prune.config_loader import config_from_dict
from spark_prune.resume import input_identity, stage_keys
from spark_prune.stages import REGISTRY

RAW = {
    "input": {"path": "/lake/t"},
    "output": {"path": "/runs/r"},
    "semdedup": {"enabled": True, "kmeans": {"k": 4}},
    "dbp": {"kmeans": {"k": 4}},
}


def _keys(cfg, version=3, extra=None):  # type: ignore[no-untyped-def]
    enabled = [s for s in REGISTRY if s.enabled(cfg)]
    return stage_keys(cfg, enabled, input_identity(cfg, version), extra)


def test_keys_change_only_from_the_changed_stage_on() -> None:
    cfg = config_from_dict(RAW)
    base = _keys(cfg)
    assert list(base) == ["validate", "semdedup", "dbp"]
    assert _keys(cfg) == base  # deterministic across calls (and processes: no object ids)

    tau = _keys(replace(cfg, dbp=replace(cfg.dbp, tau=0.2)))
    assert tau["validate"] == base["validate"] and tau["semdedup"] == base["semdedup"]
    assert tau["dbp"] != base["dbp"]

    eps = _keys(replace(cfg, semdedup=replace(cfg.semdedup, eps=0.1)))
    assert eps["validate"] == base["validate"]
    assert eps["semdedup"] != base["semdedup"] and eps["dbp"] != base["dbp"]

    newer = _keys(cfg, version=4)
    assert all(newer[name] != base[name] for name in base)
    assert _keys(cfg, extra={"rethreshold": True})["semdedup"] != base["semdedup"]


def test_output_settings_do_not_invalidate() -> None:
    cfg = config_from_dict(RAW)
    moved = replace(cfg, output=replace(cfg.output, keep_checkpoints=True, mode="overwrite"))
    assert _keys(moved) == _keys(cfg)


def test_selection_rule_keys_belong_to_their_stage() -> None:
    """semdedup.keep_by / border_margin and dbp.strategy / hierarchy are part of their stage's
    config section: changing one recomputes that stage (and the ones after it), not earlier ones."""
    cfg = config_from_dict(RAW)
    base = _keys(cfg)
    for semdedup in (
        {"keep_by": {"column": "pixels", "order": "asc"}},
        {"border_margin": 0.05},
    ):
        changed = _keys(config_from_dict({**RAW, "semdedup": {**RAW["semdedup"], **semdedup}}))
        assert changed["validate"] == base["validate"], semdedup
        assert changed["semdedup"] != base["semdedup"] and changed["dbp"] != base["dbp"]
    for dbp in ({"strategy": "hierarchical"}, {"hierarchy": {"k": [2]}}):
        changed = _keys(config_from_dict({**RAW, "dbp": {**RAW["dbp"], **dbp}}))
        assert changed["semdedup"] == base["semdedup"] and changed["dbp"] != base["dbp"], dbp
    evaluate = config_from_dict({**RAW, "evaluate": {"label_column": "label"}})
    assert _keys(evaluate) == base  # evaluate is not a stage of run
