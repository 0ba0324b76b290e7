"""YAML files and ``--set dotted.key=value`` overrides into the typed config of ``config.py``.

Generic over frozen dataclasses: every field is coerced by its type hint (bool, int, float, str,
``Literal``, ``X | None``, unions, lists, string dicts, nested dataclasses). Unknown keys, wrong
types and bad values raise ``ConfigError`` naming the dotted key, so a typo never silently falls
back to a default. Override values are parsed as YAML scalars.
"""

from __future__ import annotations

import dataclasses
import types
import typing
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, Literal, Union, get_args, get_origin

import yaml

from spark_prune.config import ConfigError, PipelineConfig

# Keys of a section that are alternatives: a config sets one of each pair. Giving one (in a file
# or with --set) clears the other, so ``--set dbp.keep_count=1000`` replaces the default
# ``keep_fraction`` or a file's; a file that sets both is still an error.
ALTERNATIVES: dict[str, tuple[str, str]] = {
    "dbp": ("keep_fraction", "keep_count"),
    "clip_filter": ("threshold", "keep_fraction"),
    "embed": ("pretrained", "checkpoint"),
}


def load_config(path: str | Path | None = None, overrides: Sequence[str] = ()) -> PipelineConfig:
    """Load a YAML file (optional), apply ``key=value`` overrides, validate."""
    raw: dict[str, Any] = {}
    if path is not None:
        raw = _read_yaml(Path(path))
    for item in overrides:
        apply_override(raw, item)
    return config_from_dict(raw)


def _read_yaml(path: Path) -> dict[str, Any]:
    """The config file's mapping; a missing, unreadable or invalid file is a ConfigError."""
    try:
        text = path.read_text()
    except FileNotFoundError:
        raise ConfigError(f"--config {str(path)!r}: no such file") from None
    except IsADirectoryError:
        raise ConfigError(f"--config {str(path)!r}: is a directory, expected a YAML file") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"--config {str(path)!r}: cannot be read ({exc})") from None
    try:
        loaded = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        raise ConfigError(f"--config {str(path)!r}: invalid YAML{where}: {problem}") from None
    if loaded is None:
        return {}
    if not isinstance(loaded, dict):
        raise ConfigError(f"--config {str(path)!r}: the top level must be a mapping of sections")
    return loaded


def config_from_dict(raw: Mapping[str, Any]) -> PipelineConfig:
    """A validated ``PipelineConfig`` from nested mappings (a parsed YAML file, a manifest)."""
    cfg = build(PipelineConfig, _with_alternatives_cleared(raw), "")
    cfg.validate()
    return cfg


def apply_override(raw: dict[str, Any], item: str) -> None:
    """Apply one ``dotted.key=value`` override in place; the value is parsed as YAML."""
    if "=" not in item:
        raise ConfigError(f"--set {item!r}: expected key=value")
    dotted, value_text = item.split("=", 1)
    parts = dotted.strip().split(".")
    node = raw
    for part in parts[:-1]:
        child = node.setdefault(part, {})
        if not isinstance(child, dict):
            raise ConfigError(f"{dotted}: {part} is not a section")
        node = child
    value = yaml.safe_load(value_text) if value_text.strip() else None
    node[parts[-1]] = value
    pair = ALTERNATIVES.get(".".join(parts[:-1]), ())
    if value is not None and parts[-1] in pair:  # the override wins over the file's other key
        node[next(key for key in pair if key != parts[-1])] = None


def _with_alternatives_cleared(raw: Mapping[str, Any]) -> Mapping[str, Any]:
    """``raw`` where a section that gives one key of an ``ALTERNATIVES`` pair and not the other
    has the other set to null (its default would otherwise count as given)."""
    cleared = dict(raw)
    for section, pair in ALTERNATIVES.items():
        values = raw.get(section)
        if not isinstance(values, Mapping):
            continue
        for given, other in (pair, pair[::-1]):
            if values.get(given) is not None and other not in values:
                cleared[section] = {**values, other: None}
    return cleared


def build(cls: type, raw: Any, prefix: str) -> Any:
    """An instance of dataclass ``cls`` from a mapping; ``prefix`` is the dotted key of ``raw``."""
    if raw is None:
        raw = {}
    if not isinstance(raw, Mapping):
        raise ConfigError(f"{prefix or 'config'}: expected a mapping, got {raw!r}")
    hints = typing.get_type_hints(cls)
    known = {f.name for f in dataclasses.fields(cls)}
    unknown = sorted(set(raw) - known)
    if unknown:
        where = f"{prefix}." if prefix else ""
        raise ConfigError(
            f"unknown key {where}{unknown[0]!s}; known keys here: {', '.join(sorted(known))}"
        )
    kwargs = {name: _coerce(hints[name], value, _join(prefix, name)) for name, value in raw.items()}
    return cls(**kwargs)


def _join(prefix: str, name: str) -> str:
    return f"{prefix}.{name}" if prefix else name


def _coerce(tp: Any, value: Any, key: str) -> Any:
    origin = get_origin(tp)
    if origin in (Union, types.UnionType):
        return _coerce_union(get_args(tp), value, key)
    if origin is Literal:
        allowed = get_args(tp)
        if value not in allowed:
            raise ConfigError(
                f"{key}: must be one of {', '.join(map(str, allowed))}, got {value!r}"
            )
        return value
    if dataclasses.is_dataclass(tp) and isinstance(tp, type):
        return build(tp, value, key)
    if origin is dict:
        if not isinstance(value, Mapping):
            raise ConfigError(f"{key}: expected a mapping, got {value!r}")
        return {str(k): str(v) for k, v in value.items()}
    if origin in (list, Sequence, typing.Sequence) or tp is Sequence:
        if not isinstance(value, (list, tuple)):
            raise ConfigError(f"{key}: expected a list, got {value!r}")
        (item_tp,) = get_args(tp) or (Any,)
        return tuple(_coerce(item_tp, v, f"{key}[{i}]") for i, v in enumerate(value))
    return _coerce_scalar(tp, value, key)


def _coerce_union(options: tuple[Any, ...], value: Any, key: str) -> Any:
    if value is None and type(None) in options:
        return None
    candidates = [option for option in options if option is not type(None)]
    errors = []
    for option in candidates:
        try:
            return _coerce(option, value, key)
        except ConfigError as exc:
            errors.append(str(exc))
    if len(candidates) == 1:
        raise ConfigError(errors[0])
    expected = " or ".join(_describe(option) for option in candidates)
    raise ConfigError(f"{key}: expected {expected}, got {value!r}")


def _describe(tp: Any) -> str:
    """How an error message names a type: ``an integer``, ``"auto"``, ..."""
    if get_origin(tp) is Literal:
        return " or ".join(f'"{v}"' if isinstance(v, str) else repr(v) for v in get_args(tp))
    names = {bool: "true or false", int: "an integer", float: "a number", str: "a string"}
    return names.get(tp, getattr(tp, "__name__", repr(tp)))


def _coerce_scalar(tp: Any, value: Any, key: str) -> Any:
    if tp is Any:
        return value
    if value is None:
        raise ConfigError(f"{key}: must not be null")
    if tp is bool:
        if isinstance(value, bool):
            return value
        raise ConfigError(f"{key}: expected true or false, got {value!r}")
    if tp is int:
        if isinstance(value, int) and not isinstance(value, bool):
            return value
        raise ConfigError(f"{key}: expected an integer, got {value!r}")
    if tp is float:
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            return float(value)
        raise ConfigError(f"{key}: expected a number, got {value!r}")
    if tp is str:
        if isinstance(value, str):
            return value
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            return str(value)
        raise ConfigError(f"{key}: expected a string, got {value!r}")
    raise ConfigError(f"{key}: unsupported type {tp!r}")
