"""Figures of a calibration: observed vs simulated gap and speed per driver, and the fitted parameters.

``plots/spacing.png`` and ``plots/speed.png``: small multiples for up to ``max_plots`` drivers (all when few,
else drivers spread over the range of spacing RMSE, best to worst, each titled with its RMSE);
``plots/parameters.png``: a histogram of each fitted parameter over the drivers (per-driver mode) or the
values with their standard errors (global / classes).
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np

from difftraffic.calibration.bounds import UNITS


def pick_drivers(result, max_plots: int) -> list[str]:
    """Up to ``max_plots`` vehicle ids, spread over the spacing-RMSE ranking (best first)."""
    ids = result.vehicles
    rmse = np.array(result.params["rmse_spacing"], dtype=float)
    key = np.where(np.isnan(rmse), np.nanmax(rmse, initial=0.0) + 1.0, rmse)
    order = np.argsort(key, kind="stable")
    if len(order) > max_plots:
        order = order[np.unique(np.linspace(0, len(order) - 1, max_plots).round().astype(int))]
    return [ids[i] for i in order]


def _grid(n: int):
    import matplotlib.pyplot as plt

    cols = min(4, n)
    rows = math.ceil(n / cols)
    fig, axes = plt.subplots(rows, cols, figsize=(3.4 * cols, 2.4 * rows), squeeze=False, sharex=False)
    for ax in axes.flat[n:]:
        ax.set_visible(False)
    return fig, list(axes.flat)


def _traces(result, ids: list[str], obs: str, sim: str, ylabel: str, stat: str, unit: str, path: Path) -> None:
    import matplotlib.pyplot as plt

    fig, axes = _grid(len(ids))
    for ax, vid in zip(axes, ids):
        for j, seg in enumerate(result.curves.get(vid, [])):
            ax.plot(seg["time"], seg[obs], color="k", lw=1.0, label="observed" if j == 0 else None)
            ax.plot(seg["time"], seg[sim], color="tab:orange", lw=1.0, ls="--", label="simulated" if j == 0 else None)
        value = result.row(vid)[stat]
        ax.set_title(f"vehicle {vid}: RMSE {value:.3g} {unit}", fontsize=8)
        ax.set_xlabel("time (s)", fontsize=7)
        ax.set_ylabel(ylabel, fontsize=7)
        ax.tick_params(labelsize=6)
    axes[0].legend(fontsize=6)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def _parameters(result, path: Path) -> None:
    import matplotlib.pyplot as plt

    fit = result.info["fit"]
    fig, axes = plt.subplots(1, len(fit), figsize=(2.6 * len(fit), 2.4), squeeze=False)
    per_driver = result.info["mode"] == "per-driver"
    for ax, name in zip(axes[0], fit):
        if per_driver:
            ax.hist(np.array(result.params[name], dtype=float), bins=min(30, max(5, len(result.vehicles) // 4)))
            ax.set_ylabel("drivers", fontsize=7)
        else:
            vals = [s["idm"][name] for s in result.sets]
            errs = [s["se"][name] for s in result.sets]
            ax.errorbar(range(len(vals)), vals, yerr=np.nan_to_num(errs), fmt="o", capsize=3)
            ax.set_xticks(range(len(vals)), [s["name"] for s in result.sets], fontsize=6, rotation=30)
        lo, hi = result.info["bounds"][name]
        ax.set_title(f"{name} ({UNITS[name]}), box {lo:g}-{hi:g}", fontsize=8)
        ax.tick_params(labelsize=6)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def write_plots(result, directory: Path, max_plots: int = 12) -> list[Path]:
    """Write the three figures (see the module docstring) into ``directory``; returns their paths."""
    import matplotlib

    matplotlib.use("Agg", force=False)
    directory.mkdir(parents=True, exist_ok=True)
    ids = pick_drivers(result, max_plots)
    paths = [directory / "spacing.png", directory / "speed.png", directory / "parameters.png"]
    _traces(result, ids, "s_obs", "s_sim", "gap (m)", "rmse_spacing", "m", paths[0])
    _traces(result, ids, "v_obs", "v_sim", "speed (m/s)", "rmse_speed", "m/s", paths[1])
    _parameters(result, paths[2])
    return paths
