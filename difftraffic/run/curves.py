"""``difftraffic plot RUN...``: learning curves and learner diagnostics as PNG files (matplotlib).

* ``learning_curves.png``: one axes per task, one curve per learner; with several runs (seeds) of the same
  task × learner, the mean and a ±1 std band. y = the running mean of the last 100 episode returns; dotted
  markers show the deterministic-policy evaluations of eval.csv (mean over the runs).
* ``gippo_<task>.png``: GI-PPO's α (log scale), R_α, the estimated det(I + αH) (min/mean/max, with the
  1 ± δ band) and the out-of-range ratio (paper Fig. 6), one line per seed.
* ``lrp_<task>.png``: LR+RP's k_LR (and the LR/RP gradient variances when logged).

matplotlib uses the Agg backend (no display needed) unless ``--show`` is given and a display exists.
"""

from __future__ import annotations

import argparse
import math
import os
import sys
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from difftraffic.errors import UserError
from difftraffic.run.csvlog import parse_value, read_csv
from difftraffic.run.rundir import RunDir, read_config

X_COLUMNS = {"epoch": ("epoch", "epoch"), "steps": ("env_steps", "env steps"), "time": ("wall_s", "wall-clock (s)")}


@dataclass
class RunData:
    """One run's progress.csv as float arrays plus the identity fields of its config."""

    path: Path
    task: str
    learner: str
    seed: int
    config: dict[str, Any]
    columns: dict[str, np.ndarray] = field(default_factory=dict)
    evals: dict[int, float] = field(default_factory=dict)  # epoch -> deterministic eval return (periodic/final)

    def col(self, *names: str) -> np.ndarray | None:
        """The first existing column among ``names`` (exact, then by the part after the last '/')."""
        for name in names:
            if name in self.columns:
                return self.columns[name]
        tails = {key.rsplit("/", 1)[-1].lower(): key for key in self.columns}
        for name in names:
            key = tails.get(name.rsplit("/", 1)[-1].lower())
            if key is not None:
                return self.columns[key]
        return None


def load_run(path: str | os.PathLike) -> RunData:
    run = RunDir.open(path)
    cfg = read_config(run.config)
    if not run.progress.is_file():
        raise UserError(f"{run.progress}: missing (the run has not finished an epoch yet)")
    header, rows = read_csv(run.progress)
    if not rows:
        raise UserError(f"{run.progress}: no epochs logged yet")
    columns = {}
    for key in header:
        try:
            columns[key] = np.array([parse_value(r.get(key) or "") for r in rows], dtype=float)
        except ValueError:  # a non-numeric column (none expected) is skipped
            continue
    if "episode_return" not in columns or "epoch" not in columns:
        raise UserError(f"{run.progress}: not a difftraffic progress log (no epoch/episode_return columns)")
    evals = {}
    if run.eval.is_file():
        for r in read_csv(run.eval)[1]:
            if r.get("policy") != "best" and r.get("epoch") and r.get("return_mean"):
                evals[int(r["epoch"])] = parse_value(r["return_mean"])
    return RunData(
        run.path,
        str(cfg.get("task_name", cfg.get("task"))),
        str(cfg.get("learner")),
        int(cfg.get("seed", 0)),
        cfg,
        columns,
        evals,
    )


def eval_points(group: list[RunData], xcol: str) -> tuple[np.ndarray, np.ndarray]:
    """x positions and mean deterministic-eval returns at the epochs every run of ``group`` evaluated."""
    epochs = sorted(set.intersection(*(set(r.evals) for r in group))) if group else []
    xs, ys = [], []
    for e in epochs:
        at = [r.columns[xcol][e - 1] for r in group if 0 < e <= len(r.columns[xcol])]
        if len(at) == len(group):
            xs.append(float(np.mean(at)))
            ys.append(float(np.mean([r.evals[e] for r in group])))
    return np.array(xs), np.array(ys)


def mean_std(curves: list[np.ndarray]) -> tuple[np.ndarray, np.ndarray, int]:
    """Mean and std (NaN-aware) over curves truncated to their common length."""
    n = min(len(c) for c in curves)
    stack = np.stack([c[:n] for c in curves])
    with np.errstate(invalid="ignore"), _quiet_nan_warnings():
        mean = np.nanmean(stack, axis=0)
        std = np.nanstd(stack, axis=0) if len(curves) > 1 else np.zeros(n)
    return mean, std, n


class _quiet_nan_warnings:
    def __enter__(self):
        import warnings

        self._ctx = warnings.catch_warnings()
        self._ctx.__enter__()
        warnings.simplefilter("ignore", category=RuntimeWarning)

    def __exit__(self, *exc):
        self._ctx.__exit__(*exc)


def choose_log_regret(curves: list[np.ndarray], yscale: str) -> bool:
    """Whether to plot −return on a log axis: all returns ≤ 0 and (auto) spanning more than 3 decades."""
    if yscale == "linear":
        return False
    values = np.concatenate([c[np.isfinite(c)] for c in curves]) if curves else np.array([])
    if values.size == 0 or values.max() > 0:
        return False
    mags = -values[values < 0]
    if mags.size == 0:
        return False
    return yscale == "log" or mags.max() / mags.min() > 1e3


def _setup_matplotlib(show: bool):
    import matplotlib

    has_display = bool(os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY")) or sys.platform in (
        "darwin",
        "win32",
    )
    if not (show and has_display):
        matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt, show and has_display


RETURN_LABELS = ("episode return (running mean of 100)", "−return (log scale, lower is better)")
"""y-axis labels of a learning-curve panel: (linear returns, −return on a log axis)."""


def label_return_axes(ax, regret: bool, xlabel: str, title: str, ylabels: tuple[str, str] = RETURN_LABELS) -> None:
    """Axis labels, title and grid of a learning-curve panel; ``regret``: −return on a log y axis."""
    if regret:
        ax.set_yscale("log")
    ax.set_ylabel(ylabels[1] if regret else ylabels[0])
    ax.set_xlabel(xlabel)
    ax.set_title(title)
    ax.grid(alpha=0.3)


def plot_learning_curves(runs: list[RunData], out: Path, plt, x: str, yscale: str, evals: bool = True) -> Path:
    by_task: dict[str, dict[str, list[RunData]]] = defaultdict(lambda: defaultdict(list))
    for r in runs:
        by_task[r.task][r.learner].append(r)
    n = len(by_task)
    ncols = min(n, 3)
    nrows = math.ceil(n / ncols)
    fig, axes = plt.subplots(nrows, ncols, figsize=(5.2 * ncols, 3.8 * nrows), squeeze=False)
    xcol, xlabel = X_COLUMNS[x]
    for ax, (task, groups) in zip(axes.flat, by_task.items()):
        curves_all = [r.columns["episode_return"] for g in groups.values() for r in g]
        regret = choose_log_regret(curves_all, yscale)
        for learner, group in sorted(groups.items()):
            mean, std, m = mean_std([r.columns["episode_return"] for r in group])
            xs, _, _ = mean_std([r.columns[xcol] for r in group])
            xs = xs[:m]
            if regret:
                mean = -mean
            label = f"{learner} (n={len(group)})" if len(group) > 1 else f"{learner} (seed {group[0].seed})"
            (line,) = ax.plot(xs, mean, label=label, lw=1.6)
            if len(group) > 1:
                lo, hi = mean - std, mean + std
                if regret:  # keep the band inside the log axis
                    lo = np.where(lo > 0, lo, mean * 0.1)
                ax.fill_between(xs, lo, hi, color=line.get_color(), alpha=0.2, lw=0)
            ex, ey = eval_points(group, xcol) if evals else (np.array([]), np.array([]))
            if regret:
                keep = ey < 0
                ex, ey = ex[keep], -ey[keep]
            if ex.size:
                ax.plot(ex, ey, ls=":", marker="o", ms=3.5, lw=1.0, color=line.get_color(),
                        label=f"{learner} eval (deterministic)")  # fmt: skip
        label_return_axes(ax, regret, xlabel, task)
        ax.legend(fontsize=8)
    for ax in list(axes.flat)[n:]:
        ax.set_visible(False)
    fig.tight_layout()
    path = out / "learning_curves.png"
    fig.savefig(path, dpi=120)
    return path


def plot_gippo(task: str, runs: list[RunData], out: Path, plt, x: str, prefix: str = "") -> Path | None:
    """GI-PPO diagnostics of ``task``'s runs, one line per seed, to ``out/<prefix>gippo_<task>.png``."""
    if not any(r.col("grad/alpha") is not None for r in runs):
        return None
    xcol, xlabel = X_COLUMNS[x]
    fig, axes = plt.subplots(2, 2, figsize=(10.5, 6.8))
    (ax_a, ax_r), (ax_d, ax_o) = axes
    for r in runs:
        xs = r.columns[xcol]
        lab = f"seed {r.seed}"
        alpha = r.col("grad/alpha")
        if alpha is not None:
            ax_a.plot(xs, alpha, lw=1.2, label=lab)
        ra = r.col("grad/R_alpha")
        if ra is not None:
            ax_r.plot(xs, ra, lw=1.0, label=lab)
        lo, mid, hi = r.col("grad/est_det_min"), r.col("grad/est_det_mean"), r.col("grad/est_det_max")
        if mid is not None:
            (line,) = ax_d.plot(xs, mid, lw=1.2, label=f"{lab} mean")
            if lo is not None and hi is not None:
                ax_d.fill_between(xs, lo, hi, color=line.get_color(), alpha=0.2, lw=0, label=f"{lab} min–max")
        oorr = r.col("grad/oorr")
        if oorr is not None:
            ax_o.plot(xs, oorr, lw=1.0, label=lab)
    delta = _config_value(runs[0].config, ("alpha_interval", "update_interval", "det_interval", "delta_det"))
    if delta is not None:
        for y in (1 - delta, 1 + delta):
            ax_d.axhline(y, color="k", ls="--", lw=0.8)
    cap = _config_value(runs[0].config, ("max_oorr", "max_dist_rp_lr", "delta_oorr"))
    if cap is not None:
        ax_o.axhline(cap, color="k", ls="--", lw=0.8, label=f"cap {cap:g}")
    ax_a.set_yscale("log")
    ax_a.set_title("alpha")
    ax_r.set_title("R_alpha (expected additional return, Eq. 16)")
    ax_d.set_title("estimated det(I + alpha H)")
    ax_o.set_title("out-of-range ratio (Eq. 12)")
    return _save_diagnostics(fig, xlabel, f"GI-PPO diagnostics: {task}", out / f"{prefix}gippo_{_safe(task)}.png")


def plot_lrp(task: str, runs: list[RunData], out: Path, plt, x: str) -> Path | None:
    if not any(r.col("grad/k_lr") is not None for r in runs):
        return None
    xcol, xlabel = X_COLUMNS[x]
    has_var = any(r.col("grad/var_lr") is not None for r in runs)
    fig, axes = plt.subplots(1, 2 if has_var else 1, figsize=(10 if has_var else 5.5, 3.8), squeeze=False)
    for r in runs:
        xs = r.columns[xcol]
        k = r.col("grad/k_lr")
        if k is not None:
            axes[0, 0].plot(xs, k, lw=1.0, label=f"seed {r.seed}")
        if has_var:
            for name, ls in (("grad/var_lr", "-"), ("grad/var_rp", "--")):
                v = r.col(name)
                if v is not None:
                    axes[0, 1].plot(xs, v, ls=ls, lw=1.0, label=f"{name.split('/')[-1]} seed {r.seed}")
    axes[0, 0].set_title("LR+RP: k_LR (weight of the LR gradient)")
    axes[0, 0].set_ylim(-0.02, 1.02)
    if has_var:
        axes[0, 1].set_yscale("log")
        axes[0, 1].set_title("gradient sample variances")
    return _save_diagnostics(fig, xlabel, f"LR+RP diagnostics: {task}", out / f"lrp_{_safe(task)}.png")


ALPHA_COLUMN, K_LR_COLUMN = "grad/alpha", "grad/k_lr"
DIAGNOSTICS = ((ALPHA_COLUMN, plot_gippo), (K_LR_COLUMN, plot_lrp))
"""(progress.csv column, figure): runs that logged the column get the figure (GI-PPO's alpha, LR+RP's k_LR)."""


def _save_diagnostics(fig, xlabel: str, title: str, path: Path) -> Path:
    """x label, grid and (where something is labelled) legend on every panel; figure title; save at 110 dpi."""
    for ax in fig.axes:
        ax.set_xlabel(xlabel)
        ax.grid(alpha=0.3)
        if ax.get_legend_handles_labels()[0]:
            ax.legend(fontsize=7)
    fig.suptitle(title)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    return path


def _config_value(cfg: dict[str, Any], names: tuple[str, ...]) -> float | None:
    stack = [cfg.get("learner_config") or {}]
    while stack:
        node = stack.pop()
        for key, value in node.items():
            if isinstance(value, dict):
                stack.append(value)
            elif key in names and isinstance(value, (int, float)) and not isinstance(value, bool):
                return float(value)
    return None


def _safe(name: str) -> str:
    return "".join(c if c.isalnum() or c in "-_." else "-" for c in name)


def cmd_plot(args: argparse.Namespace) -> int:
    runs = [load_run(p) for p in args.runs]
    out = Path(args.out) if args.out else RunDir(runs[0].path).plots
    if out.exists() and not out.is_dir():
        raise UserError(f"--out {out}: exists and is not a directory")
    out.mkdir(parents=True, exist_ok=True)
    plt, showing = _setup_matplotlib(args.show)
    if args.show and not showing:
        print("difftraffic: plot: no display found; writing PNG files only", file=sys.stderr)
    written = [plot_learning_curves(runs, out, plt, args.x, args.yscale, evals=not args.no_eval)]
    by_task: dict[str, list[RunData]] = defaultdict(list)
    for r in runs:
        by_task[r.task].append(r)
    for task, group in by_task.items():
        for column, plot in DIAGNOSTICS:  # each learner's diagnostics figure, chosen by the metrics it logged
            logged = [r for r in group if column in r.columns]
            if logged:
                written.append(plot(task, logged, out, plt, args.x))
    for path in written:
        if path is not None:
            print(f"wrote {path}")
    if showing:
        plt.show()
    plt.close("all")
    return 0
