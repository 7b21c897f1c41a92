"""When, within a step, a vehicle passes a point: SUMO's ``MSCFModel::passingTime`` for each integrator.

``passing_time(d, v0, v1, dt, integrator)`` is the time (s, in [0, dt]) after the start of a step at
which a vehicle that was ``d`` m (>= 0) before a point at the start of the step passes it, given its
speeds before (``v0``) and after (``v1``) the step (m/s):

* euler (x += v_new dt): constant speed ``v1`` during the step, ``t = d / v1`` (``dt`` when v1 = 0);
* explicit (x += v_old dt): constant speed ``v0``, ``t = d / v0``;
* ballistic: constant acceleration ``a = (v1 - v0) / dt`` (or, for a vehicle that stopped within the
  step, ``a = -v0^2 / (2 dx)``), ``t`` the first root of ``d = v0 t + a t^2 / 2`` (``2 d / (v0 + v1)``
  when ``|a| < 0.001`` m/s^2).

Results are clamped into [0, dt] as SUMO does. Differentiable in ``d``, ``v0``, ``v1`` and ``dx``; every
branch uses guarded denominators, so unselected branches never feed NaN into gradients.
"""

from __future__ import annotations

import torch

NUMERICAL_EPS = 0.001
"""SUMO's NUMERICAL_EPS: the |a| (m/s^2) below which ballistic motion counts as uniform, and the smallest
time (s) on a detector used in its speed formula."""


def _safe(den: torch.Tensor, ok: torch.Tensor) -> torch.Tensor:
    return torch.where(ok, den, torch.ones_like(den))


def passing_time(
    d: torch.Tensor, v0: torch.Tensor, v1: torch.Tensor, dx: torch.Tensor, dt: float, integrator: str
) -> torch.Tensor:
    """Time (s, in [0, dt]) after the step's start at which a point ``d`` m ahead is passed; see the module."""
    if integrator in ("euler", "explicit"):
        v = v1 if integrator == "euler" else v0
        moving = v > 0
        t = torch.where(moving, d / _safe(v, moving), torch.full_like(d, dt))
        return t.clamp(0.0, dt)
    if integrator != "ballistic":
        raise ValueError(f"integrator must be euler, explicit or ballistic, got {integrator!r}")
    stopped = v1 <= 0
    a_run = (v1 - v0) / dt
    a_stop = -(v0 * v0) / (2.0 * _safe(dx, dx > 0))
    a = torch.where(stopped, a_stop, a_run)
    uniform = a.abs() < NUMERICAL_EPS
    vsum = v0 + v1
    t_uniform = 2.0 * d / _safe(vsum, vsum > 0)
    a_ok = _safe(a, ~uniform)
    va = v0 / a_ok
    disc = (va * va + 2.0 * d / a_ok).clamp(min=0.0)
    root = torch.sqrt(_safe(disc, disc > 0)) * (disc > 0)
    t_accel = torch.where(a > 0, -va + root, -va - root)
    t = torch.where(uniform, t_uniform, t_accel)
    return t.clamp(0.0, dt)
