"""Observation, reward and termination of the pace-car task (GI-PPO paper, sec. 5.3 and appendix 7.5.2).

All functions are pure and batched; vehicle 0 is the pace car, vehicles 1..n are IDM cars.

* observation ``[B, 4 (1 + n)]``: four blocks over all vehicles [pace car, IDM cars...]:
  x_i - x_pace, y_i - y_pace (world, m), vx_i, vy_i (world velocity, m/s). Unscaled.
* reward ``[B]``: r = 1 - min(1, mean_i |v_i - v_target| / v_target) over the IDM cars, in [0, 1].
* termination cause ``[B]`` (long codes of :data:`difftraffic.tasks.traffic.TERMINATION_CAUSES`), checked
  on the state after the step, first match wins: collision (centre distance pace car <-> any IDM car
  < ``collision_distance`` m), out_of_lane (pace car's lane is -1), too_far (distance to the nearest
  IDM car > ``too_far_distance`` m), behind (some IDM car's world x exceeds the pace car's). A failed
  step's reward is replaced by ``failure_reward`` (-1). No gradient flows through these checks.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from difftraffic.tasks.traffic import CAUSE


@dataclass(frozen=True)
class PaceCarRules:
    """Reward and termination settings. A threshold of ``None`` (or False) disables that check.

    target_speed: v_target (m/s); collision_distance, too_far_distance: m; failure_reward: the
    reward of a step that ends in failure.
    """

    target_speed: float = 10.0
    collision_distance: float | None = 2.5
    too_far_distance: float | None = 100.0
    out_of_lane: bool = True
    behind: bool = True
    failure_reward: float = -1.0

    def validate(self, ring: bool = False) -> None:
        """Raise ValueError on impossible settings."""
        if not self.target_speed > 0:
            raise ValueError(f"target_speed: must be > 0 m/s, got {self.target_speed}")
        for key in ("collision_distance", "too_far_distance"):
            val = getattr(self, key)
            if val is not None and not val > 0:
                raise ValueError(f"{key}: must be > 0 m or null, got {val}")
        if ring and self.behind:
            raise ValueError(
                "behind: the 'behind' check compares world x and is undefined on a ring road; set it false"
            )


def observation(
    wx: torch.Tensor, wy: torch.Tensor, vx: torch.Tensor, vy: torch.Tensor, dtype: torch.dtype
) -> torch.Tensor:
    """The pace-car observation ``[B, 4 N]`` from world positions ``wx, wy`` and velocities ``vx, vy`` ``[B, N]``.

    Relative positions are formed in the dtype of ``wx`` (float64 positions keep their precision)
    and then cast to ``dtype``.
    """
    dx = (wx - wx[:, :1]).to(dtype)
    dy = (wy - wy[:, :1]).to(dtype)
    return torch.cat([dx, dy, vx.to(dtype), vy.to(dtype)], dim=1)


def speed_reward(v_cars: torch.Tensor, target_speed: float) -> torch.Tensor:
    """r = 1 - min(1, mean_i |v_i - v_target| / v_target) over the IDM cars' speeds ``[B, n]``; ``[B]``."""
    dev = torch.abs(v_cars - target_speed).mean(dim=1) / target_speed
    return 1.0 - torch.clamp(dev, max=1.0)


@torch.no_grad()
def termination_cause(wx: torch.Tensor, wy: torch.Tensor, pace_lane: torch.Tensor, rules: PaceCarRules) -> torch.Tensor:
    """Failure cause code ``[B]`` (0 = none) from world positions ``[B, N]`` and the pace car's lane ``[B]``."""
    dx = wx[:, 1:] - wx[:, :1]
    dy = wy[:, 1:] - wy[:, :1]
    nearest = torch.sqrt((dx * dx + dy * dy).min(dim=1).values)
    cause = torch.zeros_like(pace_lane)
    # Assign in reverse priority so that the first matching cause wins.
    if rules.behind:
        cause = torch.where((dx > 0).any(dim=1), CAUSE["behind"], cause)
    if rules.too_far_distance is not None:
        cause = torch.where(nearest > rules.too_far_distance, CAUSE["too_far"], cause)
    if rules.out_of_lane:
        cause = torch.where(pace_lane < 0, CAUSE["out_of_lane"], cause)
    if rules.collision_distance is not None:
        cause = torch.where(nearest < rules.collision_distance, CAUSE["collision"], cause)
    return cause
