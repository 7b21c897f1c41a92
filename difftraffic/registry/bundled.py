"""Bundled scenarios: names -> YAML files (file lookup only; ``difftraffic.scenario`` parses them).

A bundled scenario ``NAME`` is ``difftraffic/scenario/bundled/NAME.yaml`` (package data, installed with the
package) or, in a source checkout, ``scenarios/NAME.yaml`` (the top-level ``scenarios`` symlink or folder);
the package data wins where both hold a name.
"""

from __future__ import annotations

from pathlib import Path

_PACKAGE = Path(__file__).resolve().parents[1]
SCENARIO_DIRS = (_PACKAGE / "scenario" / "bundled", _PACKAGE.parent / "scenarios")
"""Where bundled scenarios are looked up, first match wins."""


def bundled_scenarios() -> dict[str, Path]:
    """Every bundled scenario name -> its file, sorted by name."""
    found: dict[str, Path] = {}
    for folder in SCENARIO_DIRS:
        if folder.is_dir():
            for path in folder.glob("*.yaml"):
                found.setdefault(path.stem, path)
    return dict(sorted(found.items()))


def scenario_file(name: str) -> Path | None:
    """The file of bundled scenario ``name``, or None (also for anything that looks like a path)."""
    if not name or "/" in name or "\\" in name or name.endswith((".yaml", ".yml")):
        return None
    for folder in SCENARIO_DIRS:
        path = folder / f"{name}.yaml"
        if path.is_file():
            return path
    return None
