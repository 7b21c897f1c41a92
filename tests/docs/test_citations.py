"""Citations point into the repository: every ``docs/reference.md §<section>`` names a section that exists there, and no
file cites notes or folders outside the repository."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
SUFFIXES = (".py", ".md", ".yaml", ".yml", ".toml")


def _files() -> list[Path]:
    out = subprocess.run(["git", "ls-files"], cwd=REPO, capture_output=True, text=True, check=True).stdout
    return [REPO / f for f in out.split() if f.endswith(SUFFIXES) and (REPO / f).is_file()]


def _anchors() -> set[str]:
    return set(re.findall(r'<a id="([^"]+)"></a>', (REPO / "docs" / "reference.md").read_text()))


def test_every_reference_citation_names_a_section():
    """``§<section>`` (capital first) is only ever a docs/reference.md section, e.g. ``docs/reference.md §A8``."""
    anchors = _anchors()
    assert {"0", "A", "A1", "A12", "B", "C", "C3", "C9", "D", "E", "F", "P", "SUMO"} <= anchors
    bad = []
    for path in _files():
        text = path.read_text(errors="replace")
        bad += [
            f"{path.relative_to(REPO)}: §{s}" for s in re.findall(r"§([A-Z][A-Za-z]*[0-9]*)", text) if s not in anchors
        ]
        bad += [
            f"{path.relative_to(REPO)}: #{a}"
            for a in re.findall(r"reference\.md#([A-Za-z0-9]+)", text)
            if a not in anchors
        ]
    assert not bad, bad


def test_nothing_cites_notes_outside_the_repository():
    pattern = re.compile(r"notes/[a-z-]+\.md|/work/shared|\.\./shared")
    offenders = [
        str(p.relative_to(REPO))
        for p in _files()
        if p.name != "test_citations.py" and pattern.search(p.read_text(errors="replace"))
    ]
    assert not offenders, offenders
