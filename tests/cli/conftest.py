"""Helpers for CLI tests: run ``difftraffic`` in-process (fast) or as a subprocess (signals, tracebacks)."""

from __future__ import annotations

import contextlib
import io
import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

from difftraffic.cli import main

REPO = Path(__file__).resolve().parents[2]
FAST = ["--no-tensorboard", "--eval-episodes", "4"]
"""Flags that keep test runs small."""


@dataclass
class Result:
    code: int
    out: str
    err: str

    @property
    def err_lines(self) -> list[str]:
        return self.err.strip().splitlines()


def run_cli(*argv: str) -> Result:
    """``difftraffic argv...`` in this process; stdout/stderr captured."""
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = main([str(a) for a in argv])
    return Result(code, out.getvalue(), err.getvalue())


def cli_subprocess(*argv: str, cwd: Path, **kwargs) -> subprocess.Popen:
    """Start ``python -m difftraffic argv...`` (stdout/stderr piped, text mode)."""
    env = dict(os.environ, PYTHONPATH=str(REPO))
    return subprocess.Popen(
        [sys.executable, "-m", "difftraffic", *map(str, argv)],
        cwd=cwd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, **kwargs,
    )  # fmt: skip


def assert_user_error(res: Result, *fragments: str) -> None:
    """Exit 2, exactly one stderr line 'difftraffic: error: ...' containing the fragments, no traceback."""
    assert res.code == 2, (res.code, res.err)
    assert len(res.err_lines) == 1, res.err
    line = res.err_lines[0]
    assert line.startswith("difftraffic: error: "), line
    assert "Traceback" not in res.err
    for frag in fragments:
        assert frag in line, (frag, line)


@pytest.fixture
def in_tmp(tmp_path, monkeypatch):
    """Run in an empty temporary working directory (default run dirs go to ./runs)."""
    monkeypatch.chdir(tmp_path)
    return tmp_path
