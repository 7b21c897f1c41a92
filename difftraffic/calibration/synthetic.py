"""Synthetic calibration data: a leader speed profile that excites every IDM parameter, heterogeneous
drivers, platoons simulated with :class:`~difftraffic.sim.simulator.TrafficSim`, and measurement noise.

Vehicle ids: platoon ``p``'s leader is ``1000 p``, its followers ``1000 p + 1`` ... (front to back).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping

import numpy as np
import torch

from difftraffic.calibration.bounds import PARAM_NAMES
from difftraffic.calibration.table import TrajectoryTable
from difftraffic.sim.idm import IDMParams, equilibrium_gap
from difftraffic.sim.road import Road
from difftraffic.sim.simulator import TrafficSim

DRIVER_RANGES: dict[str, tuple[float, float]] = {
    "v0": (22.0, 32.0),
    "T": (0.8, 1.8),
    "a": (0.8, 2.0),
    "b": (1.2, 2.8),
    "s0": (1.5, 3.5),
    "delta": (4.0, 4.0),
}
"""Uniform ranges (m/s, s, m/s^2, m/s^2, m, -) of :func:`draw_drivers`: plausible freeway car drivers."""


def exciting_leader_speed(t: np.ndarray | float, scale: float = 1.0) -> np.ndarray:
    """Leader speed (m/s) at time ``t`` (s) over 130 s, exciting every IDM parameter: cruise 15; speed up to
    36 at 2 m/s^2 and hold it (the followers drive freely towards v0: v0, a, delta); brake at 3 m/s^2 to 5,
    then stop for 6 s (b, s0); pull away at 2 m/s^2 to 20 (a, T); a +-4 m/s wave of period 12 s (T against
    s0); brake at 4 m/s^2 to a 3 m/s crawl with +-2 m/s waves and a second stop (s0 against T at low speed).
    ``scale`` stretches the speeds (a different leader per platoon)."""
    t = np.asarray(t, dtype=np.float64)
    knots_t = [0, 8, 18.5, 38, 48.3, 54, 56.5, 62.5, 72.5, 76, 100, 104, 116, 117.5, 123.5, 130]
    knots_v = [15, 15, 36, 36, 5, 5, 0, 0, 20, 20, 20, 3, 3, 0, 0, 3]
    v = np.interp(t, knots_t, knots_v)
    wave = np.where((t > 76) & (t < 100), 4.0 * np.sin(2 * np.pi * (t - 76) / 12.0), 0.0)
    crawl = np.where((t > 104) & (t < 116), 2.0 * np.sin(2 * np.pi * (t - 104) / 6.0), 0.0)
    return scale * np.maximum(v + wave + crawl, 0.0)


def draw_drivers(n: int, seed: int = 0, ranges: Mapping[str, tuple[float, float]] | None = None) -> dict:
    """``n`` drivers' IDM parameters drawn uniformly from ``ranges`` (default :data:`DRIVER_RANGES`):
    ``{name: array [n]}`` for every name in :data:`~difftraffic.calibration.bounds.PARAM_NAMES`."""
    rng = np.random.default_rng(seed)
    box = {**DRIVER_RANGES, **(ranges or {})}
    return {k: rng.uniform(*box[k], size=n) for k in PARAM_NAMES}


def initial_gaps(params: Mapping[str, np.ndarray], speed: float) -> np.ndarray:
    """Equilibrium net gaps (m) of drivers at ``speed`` (m/s), from the simulator's IDM."""
    p = IDMParams(**{k: torch.as_tensor(np.asarray(params[k], dtype=np.float64)) for k in PARAM_NAMES})
    return equilibrium_gap(torch.tensor(float(speed), dtype=torch.float64), p).numpy()


def platoon_plan(params: Mapping[str, np.ndarray], platoons: int, duration: float, dt: float, leader_speed):
    """``(n followers per platoon, steps, times [T+1], leader speeds [T+1, P], {name: [P, n]})`` of a platoon
    experiment; leader p's speed profile is stretched by ``1 - 0.03 (p mod 8)``."""
    total = len(np.asarray(params["v0"]))
    if total % platoons:
        raise ValueError(f"{total} drivers do not split into {platoons} platoons")
    n = total // platoons
    steps = int(round(duration / dt))
    scales = 1.0 - 0.03 * (np.arange(platoons) % 8)
    times = np.arange(steps + 1) * dt
    target = np.stack([leader_speed(times, s) for s in scales], 1)
    grid = {k: np.asarray(params[k], dtype=np.float64).reshape(platoons, n) for k in PARAM_NAMES}
    return n, steps, times, target, grid


def simulate_platoons(
    params: Mapping[str, np.ndarray],
    platoons: int,
    duration: float = 130.0,
    dt: float = 0.1,
    leader_speed: Callable[[np.ndarray, float], np.ndarray] = exciting_leader_speed,
    length: float = 5.0,
    integrator: str = "euler",
    classes: np.ndarray | None = None,
) -> TrajectoryTable:
    """Platoons driven by TrafficSim: ``params[k]`` has ``platoons * n`` entries (platoon-major, front to back).

    Leader ``p`` follows ``leader_speed(t, scale_p)`` (scales 1.0, 0.97, 0.94, ...) the way SUMO's ``setSpeed``
    does (the speed of step k+1 is reached in that step); followers start at their equilibrium gaps.
    ``classes`` (``[platoons * n]`` labels) becomes a ``class`` column."""
    n, steps, times, target, grid = platoon_plan(params, platoons, duration, dt, leader_speed)
    gaps = np.stack([initial_gaps({k: grid[k][p] for k in PARAM_NAMES}, target[0, p]) for p in range(platoons)])
    front = np.zeros((platoons, n + 1))
    front[:, 1:] = -np.cumsum(gaps + length, axis=1)
    cols = {k: np.concatenate([np.full((platoons, 1), v), grid[k]], 1) for k, v in
            {"v0": 50.0, "T": 1.0, "a": 1.0, "b": 1.5, "s0": 2.0, "delta": 4.0}.items()}  # fmt: skip
    idm = IDMParams(**{k: torch.as_tensor(cols[k]) for k in PARAM_NAMES}, length=length)
    sim = TrafficSim(Road(num_lanes=1, length=1.0e9), dt=dt, integrator=integrator, backend="eager")
    x0 = torch.as_tensor(front - length / 2)
    v0 = torch.as_tensor(np.repeat(target[:1].T, n + 1, axis=1))
    state = sim.init_state(x0, v0.clone(), idm=idm)
    ctrl = torch.zeros(platoons, n + 1, dtype=torch.bool)
    ctrl[:, 0] = True
    xs, vs = [state.x.numpy() + length / 2], [state.v.numpy()]
    for k in range(steps):
        acc = torch.zeros(platoons, n + 1, dtype=torch.float64)
        acc[:, 0] = (torch.as_tensor(target[k + 1]) - state.v[:, 0]) / dt
        state = sim.step(state, acc, ctrl)
        xs.append(state.x.numpy() + length / 2)
        vs.append(state.v.numpy())
    return _table(np.stack(xs), np.stack(vs), times, length, classes, "<simulated>")


def _table(pos: np.ndarray, vel: np.ndarray, times: np.ndarray, length: float, classes, source: str):
    """Long table from ``[T+1, P, n+1]`` front-bumper positions and speeds (slot 0 = leader)."""
    steps1, platoons, n1 = pos.shape
    ids = (1000 * np.arange(platoons)[:, None] + np.arange(n1)[None, :]).astype(np.int64)
    leader = np.where(np.arange(n1)[None, :] > 0, ids - 1, -1)
    vid = np.broadcast_to(ids, pos.shape).transpose(1, 2, 0).reshape(-1)
    lid = np.broadcast_to(leader, pos.shape).transpose(1, 2, 0).reshape(-1)
    extra = {}
    if classes is not None:
        labels = np.concatenate([np.full((platoons, 1), "leader"),
                                 np.asarray(classes, dtype=str).reshape(platoons, n1 - 1)], 1)  # fmt: skip
        extra["class"] = np.broadcast_to(labels[..., None], (platoons, n1, steps1)).reshape(-1)
    return TrajectoryTable(
        vehicle_id=vid.astype(str),
        time=np.broadcast_to(times, (platoons, n1, steps1)).reshape(-1),
        lane=np.broadcast_to(np.arange(platoons)[:, None, None], (platoons, n1, steps1)).reshape(-1).astype(str),
        position=pos.transpose(1, 2, 0).reshape(-1),
        speed=vel.transpose(1, 2, 0).reshape(-1),
        length=np.full(pos.size, float(length)),
        leader_id=np.where(lid >= 0, lid.astype(str), ""),
        extra=extra,
        source=source,
    )


def add_noise(table: TrajectoryTable, position_sd: float, speed_sd: float = 0.0, seed: int = 0) -> TrajectoryTable:
    """A copy with independent Gaussian measurement noise on positions (m) and speeds (m/s, floored at 0)."""
    rng = np.random.default_rng(seed)
    out = table.take(np.arange(len(table)))
    out.position = table.position + rng.normal(0.0, position_sd, len(table))
    out.speed = np.maximum(table.speed + rng.normal(0.0, speed_sd, len(table)), 0.0)
    return out
