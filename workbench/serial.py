"""Plain dicts (JSON/TOML) <-> nested dataclasses, with errors that name the offending field."""

from __future__ import annotations

import types
import typing
from dataclasses import fields, is_dataclass
from typing import Any

from workbench.errors import ConfigError


def from_plain(cls: type, data: Any, where: str) -> Any:
    """Build dataclass `cls` from `data`; missing fields keep their defaults, unknown ones are errors."""
    if not isinstance(data, dict):
        raise ConfigError(f"{where} must be a table of fields, got {type(data).__name__}.")
    known = {f.name for f in fields(cls)}
    unknown = sorted(set(data) - known)
    if unknown:
        raise ConfigError(f"{where} has unknown field(s): {', '.join(unknown)}.")
    hints = typing.get_type_hints(cls)
    defaults = cls()
    kwargs: dict[str, Any] = {}
    for name, value in data.items():
        default = getattr(defaults, name)
        item_type = _list_item_dataclass(hints[name])
        if is_dataclass(default):
            kwargs[name] = from_plain(type(default), value, f"{where}.{name}")
        elif item_type is not None:
            if not isinstance(value, list):
                raise ConfigError(f"{where}.{name} must be a list.")
            kwargs[name] = [from_plain(item_type, v, f"{where}.{name}[{i}]") for i, v in enumerate(value)]
        elif isinstance(default, tuple):
            if not isinstance(value, (list, tuple)) or not _matches(hints[name], tuple(value)):
                raise ConfigError(f"{where}.{name} must be a list of {len(default)} numbers, got {_show(value)}.")
            kwargs[name] = tuple(value)
        else:
            if not _matches(hints[name], value):  # a hand-edited file: "eight" where a number belongs
                raise ConfigError(f"{where}.{name} must be {_kind(hints[name])}, got {_show(value)}.")
            kwargs[name] = value
    return cls(**kwargs)


def _matches(hint: Any, value: Any) -> bool:
    """Whether a plain value fits a field's type hint (int for float is fine; bool is never a number)."""
    origin, args = typing.get_origin(hint), typing.get_args(hint)
    if origin in (typing.Union, types.UnionType):
        return any(_matches(a, value) for a in args)
    if hint is type(None):
        return value is None
    if hint is bool:
        return isinstance(value, bool)
    if hint is int:
        return isinstance(value, int) and not isinstance(value, bool)
    if hint is float:
        return isinstance(value, int | float) and not isinstance(value, bool)
    if hint is str:
        return isinstance(value, str)
    if origin is tuple:
        if not isinstance(value, tuple | list):
            return False
        if len(args) == 2 and args[1] is Ellipsis:
            return all(_matches(args[0], v) for v in value)
        return len(args) == len(value) and all(_matches(a, v) for a, v in zip(args, value, strict=True))
    if origin is list:
        return isinstance(value, list) and all(_matches(args[0], v) for v in value) if args else True
    return True  # Any, Literal and the like: the config's validate() checks them


def _kind(hint: Any) -> str:
    args = [a for a in typing.get_args(hint) if a is not type(None)]
    if typing.get_origin(hint) in (typing.Union, types.UnionType):
        return " or ".join(_kind(a) for a in args) + (" or null" if len(args) < len(typing.get_args(hint)) else "")
    names = {bool: "true or false", int: "a whole number", float: "a number", str: "a text string"}
    return names.get(hint, "a list" if typing.get_origin(hint) in (list, tuple) else str(hint))


def _show(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def _list_item_dataclass(hint: Any) -> type | None:
    if typing.get_origin(hint) is list:
        (item,) = typing.get_args(hint)
        if is_dataclass(item):
            return item
    return None
