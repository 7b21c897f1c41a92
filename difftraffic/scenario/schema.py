"""Typed reading of scenario YAML mappings: every error names the file and the dotted key.

:class:`Section` wraps one mapping of the parsed YAML and hands out typed values; it remembers
which keys were read so that :meth:`Section.done` can reject unknown keys. All failures raise
:class:`ScenarioError` with the message ``"<file>: <key>: <why>"``.
"""

from __future__ import annotations

import math
from typing import Any


class ScenarioError(ValueError):
    """A scenario file is missing, unreadable or invalid; ``str(err)`` is ``"<file>: <key>: <why>"``."""


def _type_name(value: Any) -> str:
    if value is None:
        return "null"
    return {
        bool: "a boolean",
        int: "an integer",
        float: "a number",
        str: "a string",
        list: "a list",
        dict: "a mapping",
    }.get(type(value), type(value).__name__)


class Section:
    """One YAML mapping at dotted path ``path`` of file ``file``."""

    def __init__(self, file: str, path: str, data: Any):
        self.file = file
        self.path = path
        if data is None:
            data = {}
        if not isinstance(data, dict):
            self.fail("", f"must be a mapping, got {_type_name(data)}")
        self.data = data
        self.used: set[str] = set()

    # ------------------------------------------------------------- helpers
    def key(self, name: str) -> str:
        if not name:
            return self.path or "(top level)"
        return f"{self.path}.{name}" if self.path else name

    def fail(self, name: str, why: str):
        raise ScenarioError(f"{self.file}: {self.key(name)}: {why}")

    def has(self, name: str) -> bool:
        return name in self.data

    def raw(self, name: str, default: Any = None) -> Any:
        self.used.add(name)
        return self.data.get(name, default)

    def _given(self, name: str, default: Any, required: bool = False) -> bool:
        """Mark ``name`` read; False when it is absent and ``default`` applies (absent without one fails)."""
        self.used.add(name)
        if name in self.data:
            return True
        if required or default is None:
            self.fail(name, "is required")
        return False

    def done(self) -> None:
        """Reject keys that were never read."""
        unknown = [str(k) for k in self.data if k not in self.used]
        if unknown:
            allowed = ", ".join(sorted(self.used)) or "none"
            self.fail(unknown[0], f"unknown key (allowed here: {allowed})")

    # ------------------------------------------------------------ typed getters
    def number(
        self,
        name: str,
        default: float | None = None,
        *,
        gt: float | None = None,
        ge: float | None = None,
        le: float | None = None,
        lt: float | None = None,
        required: bool = False,
    ) -> float:
        if not self._given(name, default, required):
            return float(default)
        val = self.data[name]
        if isinstance(val, bool) or not isinstance(val, int | float):
            self.fail(name, f"must be a number, got {_type_name(val)}")
        val = float(val)
        if not math.isfinite(val):
            self.fail(name, f"must be finite, got {val}")
        if gt is not None and not val > gt:
            self.fail(name, f"must be > {gt:g}, got {val:g}")
        if ge is not None and not val >= ge:
            self.fail(name, f"must be >= {ge:g}, got {val:g}")
        if lt is not None and not val < lt:
            self.fail(name, f"must be < {lt:g}, got {val:g}")
        if le is not None and not val <= le:
            self.fail(name, f"must be <= {le:g}, got {val:g}")
        return val

    def optional_number(self, name: str, default: float | None, *, gt: float | None = None) -> float | None:
        """A positive number, or null / false to disable (returns None)."""
        self.used.add(name)
        if name not in self.data:
            return default
        val = self.data[name]
        if val is None or val is False:
            return None
        return self.number(name, gt=gt)

    def integer(self, name: str, default: int | None = None, *, ge: int | None = None, required: bool = False) -> int:
        if not self._given(name, default, required):
            return int(default)
        val = self.data[name]
        if isinstance(val, bool) or not isinstance(val, int):
            self.fail(name, f"must be an integer, got {_type_name(val)}")
        if ge is not None and val < ge:
            self.fail(name, f"must be >= {ge}, got {val}")
        return int(val)

    def boolean(self, name: str, default: bool) -> bool:
        self.used.add(name)
        if name not in self.data:
            return default
        val = self.data[name]
        if not isinstance(val, bool):
            self.fail(name, f"must be true or false, got {_type_name(val)}")
        return val

    def string(self, name: str, default: str | None = None, choices: tuple[str, ...] | None = None) -> str:
        if not self._given(name, default):
            return default
        val = self.data[name]
        if not isinstance(val, str):
            self.fail(name, f"must be a string, got {_type_name(val)}")
        if choices is not None and val not in choices:
            self.fail(name, f"must be one of {', '.join(choices)}, got {val!r}")
        return val

    def int_list(self, name: str, length: int | None = None) -> tuple[int, ...]:
        self.used.add(name)
        val = self.data.get(name)
        if not isinstance(val, list) or any(isinstance(v, bool) or not isinstance(v, int) for v in val):
            self.fail(name, f"must be a list of integers, got {_type_name(val)}")
        if length is not None and len(val) != length:
            self.fail(name, f"needs {length} entries (one per lane), got {len(val)}")
        if any(v < 0 for v in val):
            self.fail(name, "counts must be >= 0")
        return tuple(int(v) for v in val)

    def section(self, name: str, required: bool = False) -> Section:
        self.used.add(name)
        if required and name not in self.data:
            self.fail(name, "is required")
        return Section(self.file, self.key(name), self.data.get(name))

    def sections(self, name: str) -> list[Section]:
        """A non-empty list of mappings."""
        self.used.add(name)
        val = self.data.get(name)
        if not isinstance(val, list) or not val:
            self.fail(name, f"must be a non-empty list of mappings, got {_type_name(val)}")
        return [Section(self.file, f"{self.key(name)}[{i}]", item) for i, item in enumerate(val)]

    def mapping(self, name: str) -> dict:
        """A free-form mapping (e.g. learner overrides), returned as is."""
        self.used.add(name)
        val = self.data.get(name, {})
        if val is None:
            return {}
        if not isinstance(val, dict):
            self.fail(name, f"must be a mapping, got {_type_name(val)}")
        return dict(val)
