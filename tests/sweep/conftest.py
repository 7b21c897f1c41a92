"""Helpers for the sweep tests: run ``difftraffic sweep`` in-process or as a subprocess, craft run dirs."""

from __future__ import annotations

import csv
import subprocess
from pathlib import Path

import yaml

from difftraffic.sweep.command import main

from ..clihelpers import Result, csv_rows, python_m, run_in_process, without_timing

FAST = "--eval-episodes 4 --no-tensorboard"
"""--run-args that keep the jobs' evaluation small."""


def run_sweep(*argv: object) -> Result:
    """``difftraffic sweep argv...`` in this process, stdout/stderr captured."""
    return run_in_process(main, *argv)


def sweep_subprocess(*argv: object, cwd: Path) -> subprocess.Popen:
    """``python -m difftraffic.sweep argv...`` (stdout/stderr piped, text)."""
    return python_m("difftraffic.sweep", *argv, cwd=cwd)


def deterministic_rows(path: Path) -> list[dict[str, str]]:
    """progress.csv / eval.csv rows without the timing columns (wall_s, charts/SPS, time/*)."""
    return without_timing(csv_rows(path))


def make_run(path: Path, task: str, learner: str, seed: int, returns: list[float], wall_s: list[float] | None = None):
    """A crafted run directory: a minimal config.yaml and a progress.csv with the given returns per epoch
    (and, as GI-PPO logs it, an alpha column for GI-PPO runs)."""
    path.mkdir(parents=True)
    cfg = {"difftraffic_run": 1, "task": task, "task_name": task, "learner": learner, "seed": seed, "epochs": 999}
    (path / "config.yaml").write_text(yaml.safe_dump(cfg))
    wall_s = wall_s or [0.5 * (i + 1) for i in range(len(returns))]
    alpha = learner == "gippo"
    with open(path / "progress.csv", "w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["epoch", "env_steps", "wall_s", "episode_return"] + ["grad/alpha"] * alpha)
        for i, (r, t) in enumerate(zip(returns, wall_s)):
            w.writerow([i + 1, 64 * (i + 1), repr(t), repr(float(r))] + [repr(1e-5 * (i + 1))] * alpha)
    return path
