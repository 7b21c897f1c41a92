"""Shared by tests/cli and tests/sweep: run a command-line entry point in-process or as a subprocess, check its
one-line errors, and read its CSV logs without the columns that measure speed."""

from __future__ import annotations

import contextlib
import csv
import io
import os
import subprocess
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from difftraffic.run.training import TIMING_COLUMNS

REPO = Path(__file__).resolve().parents[1]


@dataclass
class Result:
    code: int
    out: str
    err: str

    @property
    def err_lines(self) -> list[str]:
        return self.err.strip().splitlines()


def run_in_process(main: Callable[[Sequence[str]], int], *argv: object) -> Result:
    """``main(argv)`` in this process with stdout/stderr captured."""
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = main([str(a) for a in argv])
    return Result(code, out.getvalue(), err.getvalue())


def python_m(module: str, *argv: object, cwd: Path, **kwargs) -> subprocess.Popen:
    """Start ``python -m module argv...`` on this checkout (stdout/stderr piped, text mode)."""
    env = dict(os.environ, PYTHONPATH=str(REPO))
    return subprocess.Popen(
        [sys.executable, "-m", module, *map(str, argv)],
        cwd=cwd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, **kwargs,
    )  # fmt: skip


def assert_user_error(res: Result, *fragments: str) -> None:
    """Exit 2, exactly one stderr line 'difftraffic: error: ...' containing the fragments, no traceback."""
    assert res.code == 2, (res.code, res.out, res.err)
    assert len(res.err_lines) == 1, res.err
    line = res.err_lines[0]
    assert line.startswith("difftraffic: error: "), line
    assert "Traceback" not in res.err
    for frag in fragments:
        assert frag in line, (frag, line)


def csv_rows(path: Path) -> list[dict[str, str]]:
    with open(path, newline="") as fh:
        return list(csv.DictReader(fh))


def without_timing(rows: list[dict[str, str]]) -> list[dict[str, str]]:
    """``rows`` without the timing columns (wall_s, charts/SPS, time/*): equal between identical runs."""
    return [{k: v for k, v in r.items() if k not in TIMING_COLUMNS and not k.startswith("time/")} for r in rows]
