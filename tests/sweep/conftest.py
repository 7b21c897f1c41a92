"""Helpers for the sweep tests: run ``difftraffic sweep`` in-process or as a subprocess, craft run dirs."""

from __future__ import annotations

import contextlib
import csv
import io
import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import yaml

from difftraffic.sweep import main

REPO = Path(__file__).resolve().parents[2]
FAST = "--eval-episodes 4 --no-tensorboard"
"""--run-args that keep the jobs' evaluation small."""
TIMING = ("wall_s", "charts/SPS")


@dataclass
class Result:
    code: int
    out: str
    err: str

    @property
    def err_lines(self) -> list[str]:
        return self.err.strip().splitlines()


def run_sweep(*argv: object) -> Result:
    """``difftraffic sweep argv...`` in this process, stdout/stderr captured."""
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = main([str(a) for a in argv])
    return Result(code, out.getvalue(), err.getvalue())


def sweep_subprocess(*argv: object, cwd: Path) -> subprocess.Popen:
    """``python -m difftraffic.sweep argv...`` (stdout/stderr piped, text)."""
    env = dict(os.environ, PYTHONPATH=str(REPO))
    return subprocess.Popen(
        [sys.executable, "-m", "difftraffic.sweep", *map(str, argv)],
        cwd=cwd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip


def assert_user_error(res: Result, *fragments: str) -> None:
    """Exit 2 with exactly one stderr line 'difftraffic: error: ...' holding the fragments."""
    assert res.code == 2, (res.code, res.out, res.err)
    assert len(res.err_lines) == 1, res.err
    line = res.err_lines[0]
    assert line.startswith("difftraffic: error: "), line
    for frag in fragments:
        assert frag in line, (frag, line)


def deterministic_rows(path: Path) -> list[dict[str, str]]:
    """progress.csv / eval.csv rows without the timing columns (wall_s, charts/SPS, time/*)."""
    with open(path, newline="") as fh:
        rows = list(csv.DictReader(fh))
    return [{k: v for k, v in r.items() if k not in TIMING and not k.startswith("time/")} for r in rows]


def make_run(path: Path, task: str, learner: str, seed: int, returns: list[float], wall_s: list[float] | None = None):
    """A crafted run directory: a minimal config.yaml and a progress.csv with the given returns per epoch."""
    path.mkdir(parents=True)
    cfg = {"difftraffic_run": 1, "task": task, "task_name": task, "learner": learner, "seed": seed, "epochs": 999}
    (path / "config.yaml").write_text(yaml.safe_dump(cfg))
    wall_s = wall_s or [0.5 * (i + 1) for i in range(len(returns))]
    with open(path / "progress.csv", "w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["epoch", "env_steps", "wall_s", "episode_return", "grad/alpha"])
        for i, (r, t) in enumerate(zip(returns, wall_s)):
            w.writerow([i + 1, 64 * (i + 1), repr(t), repr(float(r)), repr(1e-5 * (i + 1))])
    return path
