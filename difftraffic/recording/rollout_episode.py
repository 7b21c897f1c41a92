"""An :class:`~difftraffic.recording.episode.Episode` from stacked simulator frames (no task around them).

``rollout_episode(road, dt, s, speed, accel, lane, ...)`` takes ``[T+1, B, N]`` arrays of a standalone
simulation (road coordinate ``s`` of the vehicle centres, m; speeds m/s; accelerations m/s^2; lanes) and
places the vehicles in the world with the road's own geometry (``Road.to_world``). A pure simulation has no
reward, no controlled vehicle and no termination: rewards are zeros, every frame is valid, causes "none".
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch

from difftraffic.recording.episode import Episode
from difftraffic.sim.road import Road


def rollout_episode(
    road: Road,
    dt: float,
    s: np.ndarray,
    speed: np.ndarray,
    accel: np.ndarray,
    lane: np.ndarray,
    active: np.ndarray | None = None,
    length: np.ndarray | float = 5.0,
    width: np.ndarray | float = 2.0,
    controlled: np.ndarray | None = None,
    grad: np.ndarray | None = None,
    reward: np.ndarray | None = None,
    meta: dict[str, Any] | None = None,
) -> Episode:
    """The episode of frames ``[T+1, B, N]``; ``length``/``width`` per slot ``[N]`` (m) or one value."""
    s = np.asarray(s, np.float64)
    t1, b, n = s.shape
    lane = np.asarray(lane)
    lat = np.where(lane >= 0, lane, 0) * road.lane_width
    x, y, heading = (t.numpy() for t in road.to_world(torch.from_numpy(s), torch.from_numpy(lat.astype(np.float64))))
    f32 = lambda arr: np.asarray(arr, np.float32)  # noqa: E731
    return Episode(
        s=f32(s), x=f32(x), y=f32(y), heading=f32(heading), speed=f32(speed), accel=f32(accel),
        lane=lane.astype(np.int16), reward=f32(np.zeros((t1 - 1, b)) if reward is None else reward),
        valid=np.ones((t1, b), bool), termination=np.zeros(b, np.int8),
        controlled=np.zeros(n, bool) if controlled is None else np.asarray(controlled, bool),
        length=np.broadcast_to(f32(length), (n,)).copy(), width=np.broadcast_to(f32(width), (n,)).copy(),
        grad=grad, active=None if active is None else np.asarray(active, bool),
        meta={"road": road.as_dict(), "dt": float(dt), "scenario": "TrafficSim rollout", **(meta or {})},
    )  # fmt: skip
