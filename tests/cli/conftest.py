"""Helpers for CLI tests: run ``difftraffic`` in-process (fast) or as a subprocess (signals, tracebacks)."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from difftraffic.cli.commands import main

from ..clihelpers import Result, python_m, run_in_process

FAST = ["--no-tensorboard", "--eval-episodes", "4"]
"""Flags that keep test runs small."""


def run_cli(*argv: object) -> Result:
    """``difftraffic argv...`` in this process; stdout/stderr captured."""
    return run_in_process(main, *argv)


def cli_subprocess(*argv: object, cwd: Path, **kwargs) -> subprocess.Popen:
    """Start ``python -m difftraffic argv...`` (stdout/stderr piped, text mode)."""
    return python_m("difftraffic", *argv, cwd=cwd, **kwargs)


@pytest.fixture
def in_tmp(tmp_path, monkeypatch):
    """Run in an empty temporary working directory (default run dirs go to ./runs)."""
    monkeypatch.chdir(tmp_path)
    return tmp_path
