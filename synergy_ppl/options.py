"""Typed option mappings: check the values a config file or a caller gives against the
fields of a config dataclass, so that a wrong key or type is one sentence naming the key."""

from __future__ import annotations

import functools
import math
import numbers
import os
import reprlib
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
        raise OptionError(f"{section}: expected a mapping of options, not {short(values)}.")
    hints = _hints(cls)
    known = [f.name for f in fields(cls)]
    unknown = sorted(map(str, set(values) - set(known)))
    if unknown:
        raise OptionError(f"unknown {section} option(s) {short(unknown)}; known: {sorted(known)}.")
    return {
        name: _convert(value, hints[name], f"{section}.{name}") for name, value in values.items()
    }


def check_types(config, name: str) -> None:
    """Check (and convert, as :func:`typed_fields` does) every field of the dataclass
    instance ``config`` against its type, in place: a config made in Python gets the checks a
    config file gets. A wrong type raises :class:`OptionError` naming ``name.field``; an int
    field takes no float or bool (``rank=2.5``, ``seed=True``)."""
    hints = _hints(type(config))
    for f in fields(config):
        value = getattr(config, f.name)
        setattr(config, f.name, _convert(value, hints[f.name], f"{name}.{f.name}"))


def short(value, limit: int = 200) -> str:
    """``repr(value)`` cut to about ``limit`` characters without building the whole of it (a
    YAML alias bomb's repr would never finish)."""
    text = _SHORT.repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."


_SHORT = reprlib.Repr()
_SHORT.maxlevel, _SHORT.maxstring, _SHORT.maxother = 3, 200, 200
_SHORT.maxdict = _SHORT.maxlist = _SHORT.maxtuple = _SHORT.maxset = 8


@functools.cache
def _hints(cls: type) -> dict:
    return typing.get_type_hints(cls)


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
    raise OptionError(f"{where}: expected {wanted}, not {short(value)}.")


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
    if kind is int:  # numpy integers too; a bool or a float (2.0 included) is not one
        integer = isinstance(value, numbers.Integral) and not isinstance(value, bool)
        return int(value) if integer else _NO
    if kind is float:
        if isinstance(value, numbers.Real) and not isinstance(value, bool):
            return float(value)
        try:
            return float(value) if isinstance(value, str) else _NO
        except ValueError:
            return _NO
    if kind is str:  # a path given as a Path object is its text
        return str(value) if isinstance(value, str | os.PathLike) else _NO
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

    ``name`` is the parameter (config field or function argument, ``guide_lr``), which the
    error names and carries (the command line writes it as its flag).
    """
    # an int is finite however large (math.isfinite would overflow converting it)
    inside = isinstance(value, int) or (isinstance(value, float) and math.isfinite(value))
    if inside and low is not None:
        inside = value > low if low_open else value >= low
    if inside and high is not None:
        inside = value < high if high_open else value <= high
    if not inside:
        left = "" if low is None else f"{'>' if low_open else '>='} {low}"
        right = "" if high is None else f"{'<' if high_open else '<='} {high}"
        bounds = " and ".join(b for b in (left, right) if b)
        raise OptionError(
            f"{name} must be {bounds or 'a finite number'}, not {short(value)}.", parameter=name
        )


MAX_YAML_BYTES = 1_000_000
"""Largest config file read: an options file is a few hundred bytes."""


def read_yaml(path: str | Path, what: str = "config file"):
    """The content of a YAML (or JSON) file; a missing file, bad YAML, a key written twice
    in one mapping or an alias (``*name``) is an :class:`OptionError` naming the file, line
    and column. A file over :data:`MAX_YAML_BYTES` is refused unread."""
    path = Path(path)
    if not path.is_file():
        raise OptionError(f"{path}: {what} {'is a folder' if path.is_dir() else 'not found'}.")
    try:
        if path.stat().st_size > MAX_YAML_BYTES:
            raise OptionError(
                f"{path}: a {what} of {path.stat().st_size:,} bytes is too large (at most "
                f"{MAX_YAML_BYTES:,}); it should hold options only."
            )
        return yaml.load(path.read_text(), Loader=_UniqueKeyLoader)  # noqa: S506 (safe loader)
    except yaml.YAMLError as err:
        raise OptionError(
            f"{path}{_yaml_where(err)}: not valid YAML ({_yaml_problem(err)})."
        ) from err
    except (OSError, UnicodeDecodeError) as err:
        raise OptionError(f"{path}: cannot read the {what} ({err}).") from err


class _UniqueKeyLoader(yaml.SafeLoader):
    """PyYAML's safe loader, except that a key given twice in one mapping is an error (the
    plain loader keeps the last value silently) and so is an alias: options need none, and
    nested aliases (a "billion laughs" file) make a few lines expand to gigabytes."""

    def compose_node(self, parent, index):
        if self.check_event(yaml.AliasEvent):
            event = self.peek_event()
            raise yaml.composer.ComposerError(
                None,
                None,
                f"alias *{event.anchor} (a reference to &{event.anchor}) is not "
                "allowed; write the value out",
                event.start_mark,
            )
        return super().compose_node(parent, index)

    def construct_mapping(self, node, deep=False):
        seen = set()
        for key_node, _ in node.value:
            key = self.construct_object(key_node, deep=deep)
            try:
                hash(key)
            except TypeError:
                continue  # the safe loader's own check names it
            if key in seen:
                raise yaml.constructor.ConstructorError(
                    None, None, f"key {short(key)} is given twice", key_node.start_mark
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
