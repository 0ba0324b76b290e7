"""YAML files and ``--set dotted.key=value`` overrides into the typed config of ``config.py``.

Generic over frozen dataclasses: every field is coerced by its type hint (bool, int, float, str,
``Literal``, ``X | None``, unions, lists, string dicts, nested dataclasses). Unknown keys, wrong
types and bad values raise ``ConfigError`` naming the dotted key, so a typo never silently falls
back to a default. Override values are parsed as YAML scalars.
"""

from __future__ import annotations

import dataclasses
import datetime
import logging
import math
import re
import types
import typing
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, Literal, Union, get_args, get_origin

import yaml

from spark_prune.config import ConfigError, PipelineConfig

log = logging.getLogger(__name__)

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
        loaded = yaml.load(text, Loader=_UniqueKeyLoader)  # a SafeLoader subclass
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


class _UniqueKeyLoader(yaml.SafeLoader):
    """A safe loader that refuses a key given twice in one mapping (plain YAML keeps the last,
    so a second ``dbp:`` section would silently replace the first)."""

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict[Any, Any]:
        seen: set[Any] = set()
        for key_node, _ in node.value:
            if key_node.tag == "tag:yaml.org,2002:merge":  # "<<: *anchor" may be overridden
                continue
            key = self.construct_object(key_node, deep=deep)
            try:
                twice = key in seen
            except TypeError:  # an unhashable key: let PyYAML say so in its own words
                break
            if twice:
                raise yaml.constructor.ConstructorError(
                    None, None, f"key {key!r} is given twice", key_node.start_mark
                )
            seen.add(key)
        return super().construct_mapping(node, deep=deep)


_PLAIN_NUMBER = re.compile(r"[-+]?(\d+(\.\d*)?|\.\d+)([eE][-+]?\d+)?")


@dataclasses.dataclass(frozen=True)
class _OverrideNumber:
    """A ``--set`` value that YAML read as a number, with the text as typed: a string key keeps
    the text (``run_id=0012`` stays "0012", not YAML 1.1's octal 10)."""

    number: int | float
    text: str


def config_from_dict(raw: Mapping[str, Any], strict: bool = True) -> PipelineConfig:
    """A validated ``PipelineConfig`` from nested mappings (a parsed YAML file, a manifest).
    ``strict=False`` is for a config an earlier run already ran with (its manifest's): a value
    that today's checks refuse is logged, not raised, so old runs stay readable."""
    cfg = build(PipelineConfig, _with_alternatives_cleared(raw), "")
    try:
        cfg.validate()
    except ConfigError as exc:
        if strict:
            raise
        log.warning("a stored run config does not pass today's checks (%s); read as it ran", exc)
    return cfg


def config_problems(raw: Mapping[str, Any]) -> list[str]:
    """The first failed check of each section of ``raw`` (empty when it is valid); keys and
    types that do not build at all raise ``ConfigError``."""
    return list(build(PipelineConfig, _with_alternatives_cleared(raw), "").problems())


def apply_override(raw: dict[str, Any], item: str) -> None:
    """Apply one ``dotted.key=value`` override in place; the value is parsed as YAML."""
    if "=" not in item:
        raise ConfigError(f"--set {item!r}: expected key=value")
    dotted, value_text = item.split("=", 1)
    parts = _key_parts(dotted.strip())
    node = raw
    for part in parts[:-1]:
        child = node.setdefault(part, {})
        if not isinstance(child, dict):
            raise ConfigError(f"{dotted}: {part} is not a section")
        node = child
    try:
        value = yaml.safe_load(value_text) if value_text.strip() else None
    except yaml.YAMLError as exc:
        problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        raise ConfigError(f"--set {item!r}: the value is not valid YAML ({problem})") from None
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        value = _OverrideNumber(value, value_text.strip())
    node[parts[-1]] = value
    pair = ALTERNATIVES.get(".".join(parts[:-1]), ())
    if value is not None and parts[-1] in pair:  # the override wins over the file's other key
        node[next(key for key in pair if key != parts[-1])] = None


def check_override_keys(overrides: Sequence[str]) -> None:
    """Unknown keys and wrong types among ``overrides`` alone (no cross-key checks: they are
    applied to another config later, e.g. a previous run's)."""
    raw: dict[str, Any] = {}
    for item in overrides:
        apply_override(raw, item)
    build(PipelineConfig, _with_alternatives_cleared(raw), "")


def _key_parts(dotted: str) -> list[str]:
    """``dotted`` split into sections; below a string-dict key (``spark.conf``) the rest is one
    key, dots and all (``spark.conf.spark.sql.shuffle.partitions``)."""
    parts = dotted.split(".")
    for i in range(1, len(parts)):
        if ".".join(parts[:i]) in _STRING_DICT_KEYS:
            return [*parts[:i], ".".join(parts[i:])]
    return parts


def _string_dict_keys(cls: type, prefix: str = "") -> frozenset[str]:
    """The dotted keys of every ``dict[str, str]`` field under dataclass ``cls``."""
    found: set[str] = set()
    for name, tp in typing.get_type_hints(cls).items():
        if get_origin(tp) is dict:
            found.add(_join(prefix, name))
        elif dataclasses.is_dataclass(tp) and isinstance(tp, type):
            found |= _string_dict_keys(tp, _join(prefix, name))
    return frozenset(found)


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
    unknown = sorted(set(raw) - known, key=str)
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
    if isinstance(value, _OverrideNumber):
        value = value.text if tp is str else value.number
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
        return {str(k): _setting_text(v, f"{key}.{k}") for k, v in value.items()}
    if origin in (list, Sequence, typing.Sequence) or tp is Sequence:
        if not isinstance(value, (list, tuple)):
            raise ConfigError(f"{key}: expected a list, got {value!r}")
        (item_tp,) = get_args(tp) or (Any,)
        return tuple(_coerce(item_tp, v, f"{key}[{i}]") for i, v in enumerate(value))
    return _coerce_scalar(tp, value, key)


def _setting_text(value: Any, key: str) -> str:
    """A Spark setting's value as Spark reads it (``true``, not Python's ``True``)."""
    if isinstance(value, _OverrideNumber):  # as typed unless YAML-only syntax (1_000, 0x10)
        return value.text if _PLAIN_NUMBER.fullmatch(value.text) else str(value.number)
    if isinstance(value, (datetime.date, datetime.datetime)):
        return value.isoformat()
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (str, int, float)):
        return str(value)
    raise ConfigError(f"{key}: expected a string, number or true/false, got {value!r}")


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
    shown = value.number if isinstance(value, _OverrideNumber) else value
    raise ConfigError(f"{key}: expected {expected}, got {shown!r}")


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
        number = _as_number(value)
        if number is None:
            raise ConfigError(f"{key}: expected a number, got {value!r}")
        if not math.isfinite(number):
            raise ConfigError(f"{key}: must be a finite number, got {value!r}")
        return number
    if tp is str:
        if isinstance(value, str):
            return value
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            return str(value)
        raise ConfigError(f"{key}: expected a string, got {value!r}")
    raise ConfigError(f"{key}: unsupported type {tp!r}")


def _as_number(value: Any) -> float | None:
    """A number, or a string Python reads as one (YAML 1.1 leaves ``1e-3`` a string)."""
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return float(value)
    if isinstance(value, str):
        try:
            return float(value)
        except ValueError:
            return None
    return None


_STRING_DICT_KEYS = _string_dict_keys(PipelineConfig)
