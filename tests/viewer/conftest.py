"""Viewer test fixtures: synthetic episodes (straight multi-lane and ring) and an Xvfb display."""

from __future__ import annotations

import os
import shutil
import subprocess

import numpy as np
import pytest

from difftraffic.recording.episode import Episode
from difftraffic.sim.road import Road


def synthetic_episode(
    ring: bool = False,
    lanes: int = 3,
    per_lane: int = 3,
    num_envs: int = 2,
    steps: int = 40,
    dt: float = 0.1,
    grad: bool = True,
    lane_change_at: int | None = 20,
) -> Episode:
    """A hand-built episode with simple kinematics (not IDM physics) and known values.

    Vehicle 0 is the pace car, starting in lane 1 (lane 0 on a one-lane road) at 16 m/s and slowing at
    -0.5 m/s^2; IDM cars ``per_lane`` per lane, 20 m apart at 14 m/s, the cars of the pace car's lane
    behind it. At step ``lane_change_at`` the pace car moves one lane up (when there is one).
    Gradient: 1.0 on the pace car, 0.5**k on the k-th car behind it in its lane, 0 elsewhere and at
    frame 0. Env 1 (if any) ends with a collision 5 steps before the end; env 0 runs to the time limit.
    """
    road = Road(num_lanes=lanes, length=300.0 if ring else 2000.0, ring=ring, lane_width=4.0)
    n = 1 + lanes * per_lane
    t1 = steps + 1
    pace_lane0 = min(1, lanes - 1)
    lane0 = np.concatenate([[pace_lane0], np.repeat(np.arange(lanes), per_lane)])
    s0 = np.concatenate([[100.0], 80.0 - 20.0 * np.tile(np.arange(per_lane), lanes)])
    v0 = np.concatenate([[16.0], np.full(lanes * per_lane, 14.0)])
    a = np.zeros(n)
    a[0] = -0.5
    t = np.arange(t1) * dt
    s = np.empty((t1, num_envs, n))
    speed = np.empty((t1, num_envs, n))
    accel = np.zeros((t1, num_envs, n))
    lat = np.repeat(lane0[None, None, :] * road.lane_width, t1, 0).repeat(num_envs, 1).astype(float)
    for b in range(num_envs):
        speed[:, b] = v0[None] + a[None] * t[:, None]
        s[:, b] = s0[None] + 2.0 * b + v0[None] * t[:, None] + 0.5 * a[None] * t[:, None] ** 2
        accel[1:, b] = a[None]
    if lane_change_at is not None and pace_lane0 + 1 < lanes:
        k = np.arange(t1) - lane_change_at
        frac = np.clip(k / 10.0, 0.0, 1.0)  # 1 s lateral move
        lat[:, :, 0] = (pace_lane0 + frac[:, None]) * road.lane_width
    if ring:
        s = s % road.length
    lane = np.clip(np.round(lat / road.lane_width), 0, lanes - 1).astype(np.int16)
    if ring:
        r = road.radius + lat
        phi = s / road.radius
        x, y, heading = r * np.cos(phi), r * np.sin(phi), phi + 0.5 * np.pi
    else:
        x, y, heading = s.copy(), lat, np.zeros_like(s)
    g = None
    if grad:
        g = np.zeros((t1, num_envs, n))
        for ti in range(1, t1):
            for b in range(num_envs):
                same = np.flatnonzero((lane[ti, b] == lane[ti, b, 0]) & (np.arange(n) > 0))
                behind = same[np.argsort(-s[ti, b, same])]
                g[ti, b, 0] = 1.0
                g[ti, b, behind] = 0.5 ** (np.arange(len(behind)) + 1.0)
    valid = np.ones((t1, num_envs), bool)
    termination = np.full(num_envs, 5, np.int8)  # time_limit
    reward = np.full((steps, num_envs), 0.5, np.float32)
    if num_envs > 1:
        valid[steps - 4 :, 1] = False  # last valid frame of env 1: steps - 5
        termination[1] = 1  # collision
        reward[steps - 6, 1] = -1.0
    f32 = lambda arr: np.asarray(arr, np.float32)  # noqa: E731
    return Episode(
        s=f32(s), x=f32(x), y=f32(y), heading=f32(heading), speed=f32(speed), accel=f32(accel), lane=lane,
        reward=reward, valid=valid, termination=termination,
        controlled=np.arange(n) == 0, length=np.full(n, 5.0, np.float32), width=np.full(n, 2.0, np.float32),
        grad=None if g is None else f32(g),
        meta={"road": road.as_dict(), "dt": dt, "scenario": "synthetic", "target_speed": 10.0},
    )  # fmt: skip


@pytest.fixture
def make_episode():
    """Factory for :func:`synthetic_episode`."""
    return synthetic_episode


@pytest.fixture
def run_dir(tmp_path):
    """A run directory with three episodes (2, 3 and 1 envs), written oldest first."""
    episodes = tmp_path / "run" / "episodes"
    for i, envs in enumerate((2, 3, 1)):
        path = synthetic_episode(num_envs=envs, steps=20 + 10 * i).save(episodes / f"ep{i}.npz")
        os.utime(path, ns=(10**18 + i * 10**9, 10**18 + i * 10**9))
    return tmp_path / "run"


@pytest.fixture(scope="session")
def xvfb_display():
    """An X display: the existing $DISPLAY, or a private Xvfb started for the session.

    Skips when Xvfb is missing, except under CI (CI=true), where that is an error.
    """
    if os.environ.get("DISPLAY"):
        yield os.environ["DISPLAY"]
        return
    if shutil.which("Xvfb") is None:
        if os.environ.get("CI", "").lower() in ("1", "true", "yes"):
            pytest.fail("Xvfb is not installed (CI must install xvfb; see .ci/run)")
        pytest.skip("Xvfb is not installed")
    r, w = os.pipe()
    proc = subprocess.Popen(
        ["Xvfb", "-displayfd", str(w), "-screen", "0", "1280x720x24", "-nolisten", "tcp"],
        pass_fds=(w,),
        stderr=subprocess.DEVNULL,
    )
    os.close(w)
    with os.fdopen(r) as fh:
        num = fh.readline().strip()
    os.environ["DISPLAY"] = f":{num}"
    try:
        yield os.environ["DISPLAY"]
    finally:
        proc.terminate()
        proc.wait(5)
        del os.environ["DISPLAY"]
