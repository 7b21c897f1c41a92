"""Kinematic bicycle model of the pace car (highway-env's model, as used by the GI-PPO paper's traffic task).

One explicit-Euler step of length ``dt`` (s) for a car of wheelbase-like length ``length`` (m) at
world position (x, y) (m), heading psi (rad) and signed speed v (m/s), with front-wheel steering
angle delta (rad) and longitudinal acceleration acc (m/s^2):

    beta  = atan(tan(delta) / 2)                      slip angle at the centre of gravity
    x    += v cos(psi + beta) dt
    y    += v sin(psi + beta) dt
    psi  += v sin(beta) / (length / 2) dt
    v    += acc dt                                    no clamp: the car may reverse

Every function is a pure, batched tensor function (shapes ``[B]`` or broadcastable) and fully
differentiable; positions may be float64 while the rest is float32.
"""

from __future__ import annotations

import math

import torch

PAPER_MAX_STEER = math.radians(20.0)
"""Steering bound of the paper's pace car (rad): an action of +-1 steers +-20 degrees."""
PAPER_MAX_ACCEL = 8.0
"""Acceleration bound of the paper's pace car (m/s^2)."""


def scale_action(action: torch.Tensor, max_steer: float, max_accel: float) -> tuple[torch.Tensor, torch.Tensor]:
    """Map an action ``[B, 2]`` in [-1, 1] (clipped) to (steering angle (rad), acceleration (m/s^2)), each ``[B]``.

    Column 0 is steering and column 1 acceleration, the order of the reference implementation.
    """
    if action.dim() != 2 or action.shape[1] != 2:
        raise ValueError(f"pace-car action must be [B, 2] (steering, acceleration), got {list(action.shape)}")
    a = torch.clamp(action, -1.0, 1.0)
    return a[:, 0] * max_steer, a[:, 1] * max_accel


def bicycle_step(
    x: torch.Tensor,
    y: torch.Tensor,
    heading: torch.Tensor,
    speed: torch.Tensor,
    steer: torch.Tensor,
    accel: torch.Tensor,
    dt: float,
    length: float | torch.Tensor,
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    """One kinematic-bicycle step; returns the new (x, y, heading, speed). See the module docstring.

    ``x``/``y`` keep their dtype (float64 positions stay float64); the increments are computed in
    the dtype of ``speed``.
    """
    beta = torch.atan(0.5 * torch.tan(steer))
    course = heading + beta
    step = speed * dt
    x_new = x + (step * torch.cos(course)).to(x.dtype)
    y_new = y + (step * torch.sin(course)).to(y.dtype)
    heading_new = heading + step * torch.sin(beta) / (0.5 * length)
    speed_new = speed + accel * dt
    return x_new, y_new, heading_new, speed_new


def world_velocity(heading: torch.Tensor, speed: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """World velocity components (vx, vy) in m/s of a car with ``heading`` (rad) and signed ``speed`` (m/s)."""
    return speed * torch.cos(heading), speed * torch.sin(heading)
