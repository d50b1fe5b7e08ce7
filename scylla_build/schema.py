"""Typed, key-checked reading of one TOML table, with errors that say the fix."""

from __future__ import annotations

import difflib
import math
from collections.abc import Iterable
from pathlib import Path
from typing import Any, NoReturn

from scylla_build.errors import ConfigError

_MISSING: Any = object()


def _describe(value: object) -> str:
    """Say what a TOML value is, for 'found ...' in messages."""
    kinds = {str: "a string", bool: "a boolean", int: "an integer",
             float: "a number", list: "an array", dict: "a table"}
    kind = kinds.get(type(value), type(value).__name__)
    shown = repr(value)
    return kind if len(shown) > 60 else f"{kind} {shown}"


class Table:
    """One TOML table being read; every key must be read or it is unknown."""

    def __init__(self, file: Path, name: str, data: dict[str, Any]) -> None:
        self.file = file
        self.name = name
        self.data = data
        self._read: set[str] = set()

    def key_label(self, key: str) -> str:
        """Return how a key of this table is named in messages."""
        return f"[{self.name}].{key}" if self.name else key

    def fail(self, key: str, problem: str, fix: str) -> NoReturn:
        """Raise a ConfigError about one key of this table."""
        raise ConfigError(self.file, self.key_label(key), problem, fix)

    def _get(self, key: str, default: Any) -> Any:
        self._read.add(key)
        if key in self.data:
            return self.data[key]
        if default is _MISSING:
            self.fail(key, "is required but missing", f"add {key} = ...")
        return default

    def string(self, key: str, default: Any = _MISSING, *, example: str) -> Any:
        """Read a non-empty string."""
        value = self._get(key, default)
        if value is default and key not in self.data:
            return value
        if not isinstance(value, str) or not value:
            self.fail(key, f"must be a non-empty string, found {_describe(value)}",
                      f"set e.g. {key} = {example}")
        return value

    def boolean(self, key: str, default: bool) -> bool:
        """Read true or false."""
        value = self._get(key, default)
        if not isinstance(value, bool):
            self.fail(key, f"must be true or false, found {_describe(value)}",
                      f"set {key} = true or {key} = false")
        return value

    def positive_int(self, key: str, default: Any = _MISSING) -> Any:
        """Read an integer of at least 1; an absent key gives the default."""
        value = self._get(key, default)
        if key not in self.data:
            return value
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            self.fail(key, "must be an integer of at least 1, "
                      f"found {_describe(value)}", f"set e.g. {key} = 3")
        return value

    def seconds(self, key: str, default: float) -> float:
        """Read a positive, finite number of seconds."""
        value = self._get(key, default)
        valid = isinstance(value, (int, float)) and not isinstance(value, bool)
        if not valid or not math.isfinite(value) or value <= 0:
            self.fail(key, "must be a positive number of seconds, "
                      f"found {_describe(value)}", f"set e.g. {key} = 600")
        return float(value)

    def amount(self, key: str, *, example: str) -> float | None:
        """Read an optional positive, finite number, such as a sum in USD."""
        value = self._get(key, None)
        if value is None:
            return None
        valid = isinstance(value, (int, float)) and not isinstance(value, bool)
        if not valid or not math.isfinite(value) or value <= 0:
            self.fail(key, "must be a positive number, "
                      f"found {_describe(value)}", f"set e.g. {key} = {example}")
        return float(value)

    def int_list(self, key: str, *, example: str) -> list[int]:
        """Read an optional array of integers (empty when absent)."""
        value = self._get(key, [])
        if not isinstance(value, list) or not all(
                isinstance(item, int) and not isinstance(item, bool)
                for item in value):
            self.fail(key, "must be an array of integers, "
                      f"found {_describe(value)}", f"set e.g. {key} = {example}")
        return list(value)

    def string_list(self, key: str, default: Any = _MISSING, *,
                    example: str) -> Any:
        """Read an array of non-empty strings."""
        value = self._get(key, default)
        if value is default and key not in self.data:
            return value
        if not isinstance(value, list) or not all(
                isinstance(item, str) and item for item in value):
            self.fail(key, "must be an array of non-empty strings, "
                      f"found {_describe(value)}", f"set e.g. {key} = {example}")
        return list(value)

    def string_map(self, key: str) -> dict[str, str] | None:
        """Read a table of string values, or None when absent."""
        value = self._get(key, None)
        if value is None:
            return None
        if not isinstance(value, dict) or not all(
                isinstance(item, str) for item in value.values()):
            self.fail(key, "must be a table of strings, "
                      f"found {_describe(value)}",
                      f'set e.g. {key} = {{ MODEL = "m1" }}')
        return dict(value)

    def table(self, key: str, *, required: bool = False) -> Table | None:
        """Read a sub-table, or None when absent and not required."""
        value = self._get(key, _MISSING if required else None)
        if value is None:
            return None
        child = f"{self.name}.{key}" if self.name else key
        if not isinstance(value, dict):
            self.fail(key, f"must be a table, found {_describe(value)}",
                      f"write it as a [{child}] section")
        return Table(self.file, child, value)

    def subtables(self, key: str) -> dict[str, Table]:
        """Read a table whose keys are ids and whose values are tables."""
        outer = self.table(key)
        if outer is None:
            return {}
        result = {}
        for name in outer.data:
            inner = outer.table(name)
            assert inner is not None  # present by construction
            result[name] = inner
        return result

    def finish(self) -> None:
        """Refuse keys that no reader asked for."""
        for key in self.data:
            if key not in self._read:
                self._unknown(key, sorted(self._read))

    def _unknown(self, key: str, known: Iterable[str]) -> NoReturn:
        known = list(known)
        close = difflib.get_close_matches(key, known, n=1)
        hint = f"did you mean {close[0]}? " if close else ""
        self.fail(key, "is not a known key", f"{hint}known keys here: "
                  f"{', '.join(known)}")
