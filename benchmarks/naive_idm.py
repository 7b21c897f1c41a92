"""Baseline for benchmarks/sim_throughput.py: a naive eager PyTorch multi-lane IDM step.

What a user would write in ~20 lines: argsort on (lane, x) every step, gather the next car in the
sorted order, book IDM with scalar parameters, semi-implicit Euler, scatter back. Same equations as
``TrafficSim(integrator="euler")`` (gap = dx - L floored at 1e-3 m, s* clipped, v >= 0).
"""

from __future__ import annotations

import torch


def naive_idm_step(x, v, lane, dt=0.1, v0=30.0, T=1.0, a=1.0, b=1.5, s0=2.0, delta=4.0, length=5.0):
    """One step for ``[B, N]`` positions ``x`` (m), speeds ``v`` (m/s) and lanes; returns (x, v)."""
    order = torch.argsort(lane.to(x.dtype) * 1e7 + x, dim=1)
    xs, vs, ls = x.gather(1, order), v.gather(1, order), lane.gather(1, order)
    has_leader = torch.cat([ls[:, 1:] == ls[:, :-1], torch.zeros_like(ls[:, :1], dtype=torch.bool)], dim=1)
    x_lead = torch.cat([xs[:, 1:], xs[:, -1:]], dim=1)
    v_lead = torch.cat([vs[:, 1:], vs[:, -1:]], dim=1)
    gap = torch.clamp(x_lead - xs - length, min=1e-3)
    s_star = s0 + torch.clamp(vs * T + vs * (vs - v_lead) / (2.0 * (a * b) ** 0.5), min=0.0)
    interaction = torch.where(has_leader, (s_star / gap) ** 2, torch.zeros_like(gap))
    acc = a * (1.0 - (vs / v0) ** delta - interaction)
    v_new = torch.clamp(vs + acc * dt, min=0.0)
    x_new = xs + v_new * dt
    inverse = torch.empty_like(order).scatter_(1, order, torch.arange(x.shape[1], device=x.device).expand_as(order))
    return x_new.gather(1, inverse), v_new.gather(1, inverse)
