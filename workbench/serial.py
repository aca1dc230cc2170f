"""Plain dicts (JSON/TOML) <-> nested dataclasses, with errors that name the offending field."""

from __future__ import annotations

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
            if not isinstance(value, (list, tuple)):
                raise ConfigError(f"{where}.{name} must be a list of {len(default)} numbers.")
            kwargs[name] = tuple(value)
        else:
            kwargs[name] = value
    return cls(**kwargs)


def _list_item_dataclass(hint: Any) -> type | None:
    if typing.get_origin(hint) is list:
        (item,) = typing.get_args(hint)
        if is_dataclass(item):
            return item
    return None
