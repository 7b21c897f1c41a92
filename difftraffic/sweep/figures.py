"""Figures of an aggregated experiment (PNG, matplotlib Agg), in the style of the paper's Fig. 2–4 and 6.

* ``<experiment>_curves.png`` (x = epochs) or ``<experiment>_curves_steps.png`` (x = env steps): one panel
  per problem, one curve per learner (fixed colours across figures): the mean over seeds of the running-mean
  return with a ±1 std band (sample std, as in summary.csv). Function problems, whose returns are ≤ 0 and
  span many decades, show −return on a log axis (lower is better), as ``difftraffic plot`` does.
* ``<experiment>_gippo_<problem>.png``: GI-PPO's α, R_α, estimated det(I + αH) (min/mean/max) and out-of-range ratio per
  seed, for the runs that logged α — drawn by ``difftraffic plot``'s :func:`difftraffic.run.curves.plot_gippo`.

Learner colours, titles and order come from :mod:`difftraffic.registry`.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import numpy as np

from difftraffic.registry import LEARNERS, learner_title, paper_order, problem_title
from difftraffic.run.curves import (
    ALPHA_COLUMN,
    X_COLUMNS,
    _setup_matplotlib,
    choose_log_regret,
    label_return_axes,
    plot_gippo,
)

PANEL_LABELS = ("return (running mean of 100)", "−return (log, lower is better)")
"""y-axis labels of the (smaller) experiment panels: (linear returns, −return on a log axis)."""


def band(curves: list[np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
    """Mean and sample std (ddof = 1; 0 for one curve) over curves cut to their common length, NaN-aware."""
    n = min(len(c) for c in curves)
    stack = np.stack([np.asarray(c[:n], dtype=float) for c in curves])
    finite = np.isfinite(stack)
    count = finite.sum(axis=0)
    total = np.where(finite, stack, 0.0).sum(axis=0)
    with np.errstate(invalid="ignore", divide="ignore"):
        mean = np.where(count > 0, total / np.maximum(count, 1), np.nan)
        dev = np.where(finite, stack - mean, 0.0)
        var = np.where(count > 1, (dev**2).sum(axis=0) / np.maximum(count - 1, 1), 0.0)
    return mean, np.sqrt(var)


def plot_curves(exp: Any, out: Path, plt: Any, x: str) -> Path:
    """One panel per problem, one mean ± std curve per learner."""
    problems = [p for p in exp.order if any(r.task == p for r in exp.runs)]
    ncols = 2 if len(problems) in (2, 4) else min(len(problems), 3)
    nrows = math.ceil(len(problems) / ncols)
    fig, axes = plt.subplots(nrows, ncols, figsize=(4.4 * ncols, 3.5 * nrows), squeeze=False)
    xcol, xlabel = X_COLUMNS[x]
    for ax, problem in zip(axes.flat, problems):
        runs = [r for r in exp.runs if r.task == problem]
        regret = choose_log_regret([r.columns["episode_return"] for r in runs], "auto")
        learners = paper_order(sorted({r.learner for r in runs}))
        for learner in learners:
            group = [r for r in runs if r.learner == learner]
            mean, std = band([r.columns["episode_return"] for r in group])
            xs = band([r.columns[xcol] for r in group])[0][: len(mean)]
            color = LEARNERS[learner].colour if learner in LEARNERS else None
            label = f"{learner_title(learner)} ({len(group)})"
            lo, hi = mean - std, mean + std
            if regret:
                mean, lo, hi = -mean, -hi, -lo
                lo = np.where(lo > 0, lo, mean * 0.1)  # keep the band on the log axis
            ax.plot(xs, mean, color=color, lw=1.5, label=label)
            if len(group) > 1:
                ax.fill_between(xs, lo, hi, color=color, alpha=0.18, lw=0)
        label_return_axes(ax, regret, xlabel, problem_title(problem), PANEL_LABELS)
        ax.legend(fontsize=7, title="learner (seeds)", title_fontsize=7)
    for ax in list(axes.flat)[len(problems) :]:
        ax.set_visible(False)
    sep = "\n" if ncols == 1 else " "  # one 4.4-inch panel is too narrow for the title on one line
    fig.suptitle(f"{exp.name}: learning curves{sep}(mean ± std over seeds)")
    fig.tight_layout()
    path = out / (f"{exp.name}_curves.png" if x == "epoch" else f"{exp.name}_curves_steps.png")
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def write_figures(exp: Any, out: Path, x: str = "epoch") -> list[Path]:
    """The learning-curve figure and one GI-PPO diagnostics figure per problem with runs that logged α."""
    plt, _ = _setup_matplotlib(False)
    written = [plot_curves(exp, out, plt, x)]
    for problem in exp.order:
        runs = sorted((r for r in exp.runs if r.task == problem and ALPHA_COLUMN in r.columns), key=lambda r: r.seed)
        if runs:
            path = plot_gippo(problem, runs, out, plt, x, prefix=f"{exp.name}_")
            if path is not None:
                written.append(path)
    plt.close("all")
    return written
