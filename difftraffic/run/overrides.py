"""``--config-override key=value``: parsing and type-checking against a resolved config.

Keys name entries of the learner's resolved config; nested sections use dots (``critic.lr=1e-3``).
Values are parsed like YAML scalars but more forgiving for numbers (``1e-3`` is a float):
``true``/``false`` → bool, ``null``/``none`` → None, integers, floats (``1e-3``, ``nan``, ``inf``),
``[...]``/``{...}`` → YAML list/dict, anything else → string. The parsed value must match the type of
the default it replaces (an int is accepted where a float is expected); otherwise a UserError names the
key, the expected type and the given text.
"""

from __future__ import annotations

import copy
import difflib
from typing import Any

import yaml

from difftraffic.errors import UserError


def parse_scalar(text: str) -> Any:
    """The value of ``text`` as bool/None/int/float/list/dict, else the string itself."""
    low = text.strip().lower()
    if low in ("true", "false"):
        return low == "true"
    if low in ("null", "none", "~"):
        return None
    try:
        return int(text)
    except ValueError:
        pass
    try:
        return float(text)
    except ValueError:
        pass
    if text.strip().startswith(("[", "{")):
        try:
            return yaml.safe_load(text)
        except yaml.YAMLError:
            raise ValueError("not a valid YAML list/dict") from None
    return text


def split_override(item: str, flag: str = "--config-override") -> tuple[str, str]:
    """``'key=value'`` → ``('key', 'value')``; UserError naming ``flag`` if there is no ``=`` or no key."""
    key, sep, value = item.partition("=")
    key = key.strip()
    if not sep or not key:
        raise UserError(f"{flag} {item}: expected key=value")
    return key, value


def _type_name(value: Any) -> str:
    return {
        bool: "a bool (true/false)",
        int: "an integer",
        float: "a number",
        str: "a string",
        list: "a list",
        dict: "a section",
    }.get(type(value), type(value).__name__)


def coerce(key: str, text: str, default: Any) -> Any:
    """``text`` parsed and checked against the type of ``default``; UserError on mismatch."""
    where = f"--config-override {key}={text}"
    if isinstance(default, str):
        return text
    try:
        value = parse_scalar(text)
    except ValueError as exc:
        raise UserError(f"{where}: {exc}") from None
    if default is None:
        return value
    if isinstance(default, bool):
        ok = isinstance(value, bool)
    elif isinstance(default, int):
        ok = isinstance(value, int) and not isinstance(value, bool)
    elif isinstance(default, float):
        ok = isinstance(value, (int, float)) and not isinstance(value, bool)
        value = float(value) if ok else value
    elif isinstance(default, list):
        ok = isinstance(value, list)
        if ok and default and value:
            ok = all(_same_kind(v, default[0]) for v in value)
    elif isinstance(default, dict):
        raise UserError(f"{where}: {key} is a section; override its entries as {key}.<name>=<value>")
    else:
        ok = type(value) is type(default)
    if not ok:
        raise UserError(f"{where}: {key} expects {_type_name(default)}, got {text!r}")
    return value


def _same_kind(value: Any, example: Any) -> bool:
    if isinstance(example, bool) or isinstance(value, bool):
        return type(value) is type(example)
    if isinstance(example, (int, float)):
        return isinstance(value, (int, float)) and (isinstance(example, float) or isinstance(value, int))
    return type(value) is type(example)


def _flat_keys(config: dict[str, Any], prefix: str = "") -> list[str]:
    keys = []
    for k, v in config.items():
        name = f"{prefix}{k}"
        keys.append(name)
        if isinstance(v, dict):
            keys.extend(_flat_keys(v, name + "."))
    return keys


def apply_overrides(
    config: dict[str, Any], items: list[str], extra_keys: dict[str, Any] | None = None
) -> tuple[dict[str, Any], dict[str, Any]]:
    """Apply ``key=value`` items to a deep copy of ``config``.

    ``extra_keys`` are accepted keys that are not in ``config`` (name → default used for type checks).
    Returns ``(new_config, applied)`` where ``applied`` maps each key to its typed value (later items win).
    """
    config = copy.deepcopy(config)
    extra_keys = extra_keys or {}
    applied: dict[str, Any] = {}
    for item in items:
        key, text = split_override(item)
        node: Any = config
        parts = key.split(".")
        for depth, part in enumerate(parts):
            last = depth == len(parts) - 1
            if not isinstance(node, dict) or part not in node:
                if key in extra_keys and node is config:
                    applied[key] = coerce(key, text, extra_keys[key])
                    break
                raise UserError(f"--config-override {item}: unknown key {key!r}{_suggest(key, config, extra_keys)}")
            if last:
                node[part] = coerce(key, text, node[part])
                applied[key] = node[part]
            else:
                node = node[part]
    return config, applied


def _suggest(key: str, config: dict[str, Any], extra: dict[str, Any]) -> str:
    close = difflib.get_close_matches(key, _flat_keys(config) + list(extra), n=3, cutoff=0.6)
    return f" (did you mean {', '.join(close)}?)" if close else ""
