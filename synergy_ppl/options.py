"""Typed option mappings: check the values a config file or a caller gives against the
fields of a config dataclass, so that a wrong key or type is one sentence naming the key."""

from __future__ import annotations

import math
import types
import typing
from collections.abc import Mapping
from dataclasses import fields, is_dataclass
from pathlib import Path

import yaml

from .errors import OptionError


def typed_fields(cls: type, values: Mapping, section: str) -> dict:
    """``values`` checked and converted to the types of ``cls``'s dataclass fields.

    Unknown keys and values of the wrong type raise :class:`OptionError` naming
    ``section.key``. Integers and numeric text (YAML reads ``1e-3`` as text) are accepted
    where a float is expected; lists or comma-separated text for ``tuple[...]`` fields; a
    nested dataclass field takes a mapping of its own fields.
    """
    if not isinstance(values, Mapping):
        raise OptionError(f"{section}: expected a mapping of options, not {values!r}.")
    hints = typing.get_type_hints(cls)
    known = [f.name for f in fields(cls)]
    unknown = sorted(set(values) - set(known))
    if unknown:
        raise OptionError(f"unknown {section} option(s) {unknown}; known: {sorted(known)}.")
    return {
        name: _convert(value, hints[name], f"{section}.{name}") for name, value in values.items()
    }


def _convert(value, hint, where: str):
    """``value`` as ``hint`` (int, float, str, bool, dict, tuple[int, ...] or X | None)."""
    options = typing.get_args(hint) if isinstance(hint, types.UnionType) else (hint,)
    if value is None:
        if type(None) in options:
            return None
        raise OptionError(f"{where}: a value is required, not null.")
    for kind in (o for o in options if o is not type(None)):
        converted = _as(value, kind)
        if converted is not _NO:
            return converted
    wanted = " or ".join(_name(o) for o in options)
    raise OptionError(f"{where}: expected {wanted}, not {value!r}.")


_NO = object()


def _as(value, kind):
    origin = typing.get_origin(kind)
    if origin is tuple:
        item = typing.get_args(kind)[0]
        if isinstance(value, str):
            value = [v.strip() for v in value.split(",") if v.strip()]
            if item is int and all(v.lstrip("-").isdigit() for v in value):
                value = [int(v) for v in value]
        items = [_as(v, item) for v in value] if isinstance(value, list | tuple) else [_NO]
        return _NO if any(v is _NO for v in items) else tuple(items)
    if is_dataclass(kind):
        if isinstance(value, kind):
            return value
        return (
            kind(**typed_fields(kind, value, kind.__name__)) if isinstance(value, Mapping) else _NO
        )
    if kind is bool:
        return value if isinstance(value, bool) else _NO
    if kind is int:
        return value if isinstance(value, int) and not isinstance(value, bool) else _NO
    if kind is float:
        if isinstance(value, int | float) and not isinstance(value, bool):
            return float(value)
        try:
            return float(value) if isinstance(value, str) else _NO
        except ValueError:
            return _NO
    if kind is str:
        return value if isinstance(value, str) else _NO
    if kind is dict or origin is dict:
        return dict(value) if isinstance(value, Mapping) else _NO
    return value


def _name(kind) -> str:
    if typing.get_origin(kind) is tuple:
        item = typing.get_args(kind)[0]
        return f"a list of {'integers' if item is int else 'names'}"
    if kind is type(None):
        return "null"
    return {int: "an integer", float: "a number", str: "a string", bool: "true/false"}.get(
        kind, getattr(kind, "__name__", str(kind))
    )


def check_range(name: str, value, low=None, high=None, *, low_open=False, high_open=False) -> None:
    """Raise :class:`OptionError` unless ``value`` is finite and within the bounds.

    ``name`` is the option as a user writes it (``--lr``).
    """
    inside = isinstance(value, int | float) and math.isfinite(value)
    if inside and low is not None:
        inside = value > low if low_open else value >= low
    if inside and high is not None:
        inside = value < high if high_open else value <= high
    if not inside:
        left = "" if low is None else f"{'>' if low_open else '>='} {low}"
        right = "" if high is None else f"{'<' if high_open else '<='} {high}"
        bounds = " and ".join(b for b in (left, right) if b)
        raise OptionError(f"{name} must be {bounds or 'a finite number'}, not {value!r}.")


def read_yaml(path: str | Path, what: str = "config file"):
    """The content of a YAML (or JSON) file; a missing file, bad YAML or a key written twice
    in one mapping is an :class:`OptionError` naming the file, line and column."""
    path = Path(path)
    if not path.is_file():
        raise OptionError(f"{path}: {what} {'is a folder' if path.is_dir() else 'not found'}.")
    try:
        return yaml.load(path.read_text(), Loader=_UniqueKeyLoader)  # noqa: S506 (safe loader)
    except yaml.YAMLError as err:
        raise OptionError(
            f"{path}{_yaml_where(err)}: not valid YAML ({_yaml_problem(err)})."
        ) from err
    except (OSError, UnicodeDecodeError) as err:
        raise OptionError(f"{path}: cannot read the {what} ({err}).") from err


class _UniqueKeyLoader(yaml.SafeLoader):
    """PyYAML's safe loader, except that a key given twice in one mapping is an error (the
    plain loader keeps the last value silently)."""

    def construct_mapping(self, node, deep=False):
        seen = set()
        for key_node, _ in node.value:
            key = self.construct_object(key_node, deep=deep)
            if key in seen:
                raise yaml.constructor.ConstructorError(
                    None, None, f"key '{key}' is given twice", key_node.start_mark
                )
            seen.add(key)
        return super().construct_mapping(node, deep)


def _yaml_where(err) -> str:
    """``, line L, column C`` of a YAML error (1-based), or nothing if it has no position."""
    mark = getattr(err, "problem_mark", None) or getattr(err, "context_mark", None)
    return f", line {mark.line + 1}, column {mark.column + 1}" if mark is not None else ""


def _yaml_problem(err) -> str:
    problem = getattr(err, "problem", None)
    context = getattr(err, "context", None)
    if problem:
        return f"{context}: {problem}" if context else str(problem)
    return " ".join(str(err).split())
