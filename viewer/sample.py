"""A demo episode from the real simulator: a pace car brakes in the middle lane of IDM traffic.

    python -m viewer.sample                       # simulate, then open the viewer on it (overlay on)
    python -m viewer.sample --out demo.npz        # simulate and save the episode
    python -m viewer.sample --screenshot demo.png # simulate and save one picture (works headless)

The pace car (vehicle 0, blue) starts at the head of the middle lane at 20 m/s and brakes at
1.5 m/s^2 to 10 m/s, the target speed; IDM cars (yellow) follow it, and with MOBIL lane changes
they pull out to pass it, which cuts the gradient from the pace car's actions to them.
"""

from __future__ import annotations

import argparse
import sys

import numpy as np
import torch

import difftraffic as dt
from difftraffic.recording.episode import Episode

from .from_sim import record_rollout

TARGET_SPEED = 10.0  # m/s, the paper's pace-car target


def demo_episode(
    lanes: int = 3, per_lane: int = 6, steps: int = 300, num_envs: int = 2, grad_window: int = 20, seed: int = 0,
    lane_changes: str | None = "mobil",
) -> Episode:  # fmt: skip
    """Simulate the demo (dt = 0.1 s) and record it with gradient data over ``grad_window`` steps."""
    gen = torch.Generator().manual_seed(seed)
    road = dt.Road(num_lanes=lanes, length=5000.0, ring=False, lane_width=4.0)
    sim = dt.TrafficSim(road, dt=0.1, lane_changes=lane_changes)
    n = 1 + lanes * per_lane
    mid = lanes // 2
    gaps = 28.0 + 8.0 * torch.rand(num_envs, lanes, per_lane, generator=gen, dtype=torch.float64)
    behind = torch.cumsum(gaps, dim=-1).reshape(num_envs, -1)  # m behind the head of the platoon
    x = torch.cat([torch.full((num_envs, 1), 400.0, dtype=torch.float64), 390.0 - behind], dim=1)
    lane = torch.cat(
        [torch.full((num_envs, 1), mid), torch.arange(lanes).repeat_interleave(per_lane).expand(num_envs, -1)], 1
    )
    v = torch.full((num_envs, n), 20.0, dtype=torch.float64)
    idm = dt.IDMParams(v0=28.0)
    state = sim.init_state(x, v, lane.long(), idm)
    accel = torch.zeros(steps, num_envs, n, dtype=torch.float64)
    full, rest = divmod(20.0 - TARGET_SPEED, 1.5 * sim.dt)  # whole braking steps, then the remaining m/s
    accel[: int(full), :, 0] = -1.5
    accel[int(full) : int(full) + 1, :, 0] = -rest / sim.dt
    controlled = torch.arange(n) == 0
    speeds_ok = lambda sp: 1.0 - np.minimum(np.abs(sp - TARGET_SPEED) / TARGET_SPEED, 1.0).mean(-1)  # noqa: E731
    ep = record_rollout(sim, state, accel, controlled, grad_window=grad_window,
                        meta={"scenario": f"viewer demo ({lanes} lanes)", "target_speed": TARGET_SPEED})  # fmt: skip
    ep.reward[:] = speeds_ok(ep.speed[1:, :, 1:])  # the paper's pace-car reward over the IDM cars
    ep.termination[:] = 5  # time_limit
    return ep


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m viewer.sample", description=__doc__.split("\n\n")[0])
    p.add_argument("--out", help="save the episode here (.npz) instead of viewing it")
    p.add_argument("--screenshot", help="save a picture of frame --frame here (PNG)")
    p.add_argument("--frame", type=int, default=150, help="frame of the screenshot (default 150)")
    p.add_argument("--steps", type=int, default=300, help="steps to simulate (default 300 = 30 s)")
    args = p.parse_args(argv)
    ep = demo_episode(steps=args.steps)
    if args.out:
        print(f"wrote {ep.save(args.out)}")
    if args.screenshot:
        from .app import view

        print(f"wrote {view(ep, screenshot=args.screenshot, frames=args.frame + 1, overlay=True)}")
    if not (args.out or args.screenshot):
        from .app import view

        view(ep, overlay=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
