"""Traffic diagrams of a simulation as PNG files (matplotlib, Agg): the fundamental diagram and the
time-space diagram. Imported by ``difftraffic simulate``; nothing in difftraffic.sim imports matplotlib.

* :func:`fundamental_diagram`: flow (veh/h/lane) against density (veh/km/lane), one point per detector,
  interval and env. Segments give Edie's density and flow directly; a loop gives its flow and the density
  estimate flow / harmonic-mean speed (the space-mean speed of the vehicles that passed).
* :func:`time_space_diagram`: front-bumper position against time for every vehicle of one env, one panel
  per lane, coloured by speed; vehicles appear and vanish where slots fill and empty (open roads); lane
  starts and ends (``road["lanes"]``: ``[{start, end, kind}]``, when the road has them) and loops are drawn.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from difftraffic.run.curves import _save_diagnostics, _setup_matplotlib
from difftraffic.sim.measure import Readings

MAX_PANELS = 6  # lanes shown in a time-space diagram (the lowest ones)
MAX_POINTS = 400_000  # time-space points drawn; longer runs are thinned in time


def fd_points(readings: Readings, env: int | None = None) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """Per detector name: (density veh/km/lane, flow veh/h/lane) of its intervals (all envs, or ``env``)."""
    out = {}
    for s in readings.series:
        vals = {k: v.detach().cpu().numpy() for k, v in s.values.items()}
        if env is not None:
            vals = {k: v[:, env : env + 1] for k, v in vals.items()}
        if s.kind == "segment":
            k, q = vals["density"], vals["flow"]
        else:
            q, vs = vals["flow"], vals["harmonic_speed"]
            ok = vals["n_contrib"] > 0
            k = np.where(ok, q / np.where(ok, vs, 1.0) / 3.6, np.nan)  # veh/h / (km/h) = veh/km
            q = np.where(ok | (q == 0), q, np.nan)
        out[s.spec.name] = (k.ravel(), q.ravel())
    return out


def fundamental_diagram(readings: Readings, path: Path, title: str) -> Path:
    """Write the flow-density scatter of every detector to ``path`` (PNG)."""
    plt, _ = _setup_matplotlib(False)
    fig, ax = plt.subplots(figsize=(6.4, 4.6))
    for name, (k, q) in fd_points(readings).items():
        ok = np.isfinite(k) & np.isfinite(q)
        kind = "segment" if readings[name].kind == "segment" else "loop"
        ax.scatter(k[ok], q[ok], s=14, alpha=0.7, marker="o" if kind == "segment" else "^", label=f"{name} ({kind})")
    ax.set_ylabel("flow (veh/h/lane)")
    ax.set_xlim(left=0)
    ax.set_ylim(bottom=0)
    _save_diagnostics(fig, "density (veh/km/lane)", title, path)
    plt.close(fig)
    return path


def time_space_diagram(
    time: np.ndarray,
    pos: np.ndarray,
    speed: np.ndarray,
    lane: np.ndarray,
    active: np.ndarray,
    road: dict[str, Any],
    path: Path,
    title: str,
    loops: list[tuple[int, float]] = (),
) -> Path:
    """Write the time-space diagram of one env to ``path``: ``time`` ``[T+1]`` (s), ``pos`` (front bumper, m),
    ``speed`` (m/s), ``lane``, ``active`` ``[T+1, N]``; ``road`` = ``Road.as_dict()``; ``loops`` (lane, s)."""
    plt, _ = _setup_matplotlib(False)
    lanes = int(road.get("num_lanes", 1))
    shown = min(lanes, MAX_PANELS)
    fig, axes = plt.subplots(shown, 1, figsize=(8.0, 1.4 + 2.2 * shown), sharex=True, squeeze=False,
                             layout="constrained")  # fmt: skip
    stride = max(1, int(np.ceil(pos.size / MAX_POINTS)))
    t = np.broadcast_to(np.asarray(time)[:, None], pos.shape)[::stride]
    pos, speed, lane, active = pos[::stride], speed[::stride], lane[::stride], active[::stride]
    vmax = max(float(np.nanmax(np.where(active, speed, 0.0))) if active.any() else 1.0, 1.0)
    extents = _lane_extents(road, lanes)
    image = None
    for li in range(shown):
        ax = axes[li, 0]
        sel = active & (lane == li)
        image = ax.scatter(t[sel], pos[sel], c=speed[sel], s=1.0, cmap="RdYlGn", vmin=0.0, vmax=vmax,
                           rasterized=True, linewidths=0)  # fmt: skip
        start, end, kind = extents[li]
        for edge, label in ((start, "starts"), (end, "ends")):
            if edge is not None:
                ax.axhline(edge, color="black", lw=1.0, ls="-")
                ax.annotate(f"{kind} {label}", (0, edge), fontsize=7, va="bottom")
        for loop_lane, s in loops:
            if loop_lane == li:
                ax.axhline(s, color="tab:blue", lw=0.8, ls="--")
        ax.set_ylabel(f"lane {li}: s (m)")
        if road.get("ring"):
            ax.set_ylim(0.0, float(road["length"]))
        ax.grid(alpha=0.2)
    axes[-1, 0].set_xlabel("time (s)")
    if image is not None:
        fig.colorbar(image, ax=axes[:, 0].tolist(), label="speed (m/s)", shrink=0.9)
    suffix = f" (lanes 0-{shown - 1} of {lanes})" if shown < lanes else ""
    fig.suptitle(title + suffix)
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def _lane_extents(road: dict[str, Any], lanes: int) -> list[tuple[float | None, float | None, str]]:
    """Per lane (start, end, kind) where ``road["lanes"]`` gives a lane that does not span the whole road."""
    info = road.get("lanes")
    out: list[tuple[float | None, float | None, str]] = [(None, None, "lane")] * lanes
    if not isinstance(info, list):
        return out
    length = float(road.get("length", np.inf))
    for i, item in enumerate(info[:lanes]):
        if not isinstance(item, dict):
            continue
        start, end = item.get("start"), item.get("end")
        start = float(start) if isinstance(start, int | float) and start > 0 else None
        end = float(end) if isinstance(end, int | float) and end < length else None
        out[i] = (start, end, str(item.get("kind", "lane")))
    return out
